//! Where tiles go: tile borders aligned to the deepest layer's downsampling,
//! and halos as wide as the zero padding's reach.

use crate::model::{UNITS, Unit};

/// Downsampling factor of a unit's output (2 per pooling up to and including it).
pub(crate) fn unit_scale(unit: usize) -> usize {
    1 << UNITS[..=unit].iter().filter(|u| **u == Unit::Pool).count()
}

/// Length along one axis of a unit's output for an input of `len` pixels
/// (floor pooling, as the network does).
pub(crate) fn feature_len(len: usize, unit: usize) -> usize {
    UNITS[..=unit]
        .iter()
        .fold(len, |n, u| if *u == Unit::Pool { n / 2 } else { n })
}

/// Pixels of context a tile needs on each side so that the features of its
/// inner region up to `deepest` are exact: the zero padding at a tile's edge
/// corrupts one more position per convolution, and pooling halves the width
/// of the corrupted band (rounding up). Rounded up to the tile alignment.
pub(crate) fn halo(deepest: usize) -> usize {
    let mut corrupt = 0usize;
    let mut need = 0usize;
    for (u, unit) in UNITS.iter().enumerate().take(deepest + 1) {
        corrupt = match unit {
            Unit::Conv(_) => corrupt + 1,
            Unit::Pool => corrupt.div_ceil(2),
        };
        need = need.max(corrupt * unit_scale(u));
    }
    need.div_ceil(alignment(deepest)) * alignment(deepest)
}

/// Tile borders must be multiples of this: the downsampling of the deepest unit.
pub(crate) fn alignment(deepest: usize) -> usize {
    unit_scale(deepest).max(16)
}

/// One tile: its inner region and the crop (inner + halo, clamped to the image)
/// it is evaluated on, as `[start, end)` pixel spans per axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tile {
    pub(crate) inner_y: (usize, usize),
    pub(crate) inner_x: (usize, usize),
    pub(crate) crop_y: (usize, usize),
    pub(crate) crop_x: (usize, usize),
}

/// How an image of `height × width` is cut for layers up to `deepest`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TileGrid {
    pub(crate) height: usize,
    pub(crate) width: usize,
    pub(crate) tiles: Vec<Tile>,
}

impl TileGrid {
    /// Inner tiles of about `tile` pixels (rounded up to the alignment); a
    /// remainder narrower than the alignment joins the last tile.
    pub(crate) fn new(height: usize, width: usize, tile: usize, deepest: usize) -> TileGrid {
        let align = alignment(deepest);
        let tile = tile.div_ceil(align).max(1) * align;
        let halo = halo(deepest);
        let spans = |len: usize| {
            let mut v = Vec::new();
            let mut a = 0;
            while a < len {
                let mut b = (a + tile).min(len);
                if len - b < align {
                    b = len;
                }
                v.push((a, b));
                a = b;
            }
            v
        };
        let crop =
            |(a, b): (usize, usize), len: usize| (a.saturating_sub(halo), (b + halo).min(len));
        let mut tiles = Vec::new();
        for &iy in &spans(height) {
            for &ix in &spans(width) {
                tiles.push(Tile {
                    inner_y: iy,
                    inner_x: ix,
                    crop_y: crop(iy, height),
                    crop_x: crop(ix, width),
                });
            }
        }
        TileGrid {
            height,
            width,
            tiles,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Layer;

    #[test]
    fn halo_covers_the_padding_reach() {
        let relu5_1 = Layer::parse("relu5_1").unwrap().unit;
        assert_eq!(halo(relu5_1), 80);
        assert_eq!(alignment(relu5_1), 16);
        let relu1_1 = Layer::parse("relu1_1").unwrap().unit;
        assert_eq!(halo(relu1_1), 16);
        let pool5 = Layer::parse("pool5").unwrap().unit;
        assert_eq!(alignment(pool5), 32);
        assert_eq!(feature_len(100, relu5_1), 6);
    }

    #[test]
    fn inner_tiles_partition_the_image_with_aligned_borders() {
        let deepest = Layer::parse("relu5_1").unwrap().unit;
        let g = TileGrid::new(100, 70, 32, deepest);
        // Rows: 0-32, 32-64, 64-100 (the 4-px remainder joins the last); cols 0-32, 32-70.
        assert_eq!(g.tiles.len(), 3 * 2);
        let mut covered = vec![0u8; 100 * 70];
        for t in &g.tiles {
            assert_eq!(t.inner_y.0 % 16, 0);
            assert_eq!(t.crop_y.0 % 16, 0);
            assert!(t.crop_y.0 <= t.inner_y.0 && t.inner_y.1 <= t.crop_y.1);
            for y in t.inner_y.0..t.inner_y.1 {
                for x in t.inner_x.0..t.inner_x.1 {
                    covered[y * 70 + x] += 1;
                }
            }
        }
        assert!(covered.iter().all(|&c| c == 1));
    }
}
