//! Sizes and layouts that the planner, the workers and the CLI must compute
//! alike: fitting a long side, tiles, grid cells.

use crate::job::JobSpec;
use crate::limits::{MAX_AUTO_TILE, MIN_STEPS, MIN_TILE};
use crate::names::GridAxis;

/// `(width, height)` with the long side `long`, keeping the aspect ratio,
/// exactly as the engine's `image::fit_long_side` (rounded, at least 1).
pub fn fit_long_side(width: u32, height: u32, long: u32) -> (u32, u32) {
    let scale = f64::from(long) / f64::from(width.max(height).max(1));
    let w = ((f64::from(width) * scale).round() as u32).max(1);
    let h = ((f64::from(height) * scale).round() as u32).max(1);
    (w, h)
}

/// Overlapping tiles `(x, y, w, h)` covering `width × height` pixels: tiles
/// of `tile` px stepping by `tile - overlap`, the last flush with the edge.
pub fn tiles(width: u32, height: u32, tile: u32, overlap: u32) -> Vec<(u32, u32, u32, u32)> {
    let starts = |len: u32| -> Vec<u32> {
        if len <= tile {
            return vec![0];
        }
        let step = (tile - overlap).max(1);
        let mut v = Vec::new();
        let mut x = 0;
        while x + tile < len {
            v.push(x);
            x += step;
        }
        if v.last() != Some(&(len - tile)) {
            v.push(len - tile);
        }
        v
    };
    let mut out = Vec::new();
    for y in starts(height) {
        for x in starts(width) {
            out.push((x, y, tile.min(width), tile.min(height)));
        }
    }
    out
}

/// The overlap used when none is given: a quarter tile, at most 128 px.
pub fn default_overlap(tile: u32) -> u32 {
    (tile / 4).min(128)
}

/// The tile side for workers that render at most `untiled_pixels` in one
/// piece: the largest multiple of 16 whose square fits, at most
/// [`MAX_AUTO_TILE`]; `None` when not even a [`MIN_TILE`] tile fits.
pub fn tile_for_pixels(untiled_pixels: u64) -> Option<u32> {
    let side = (untiled_pixels as f64).sqrt() as u64 / 16 * 16;
    let side = side.min(u64::from(MAX_AUTO_TILE)) as u32;
    (side >= MIN_TILE).then_some(side)
}

/// One cell of a grid: where it is and how it blends the styles.
#[derive(Debug, Clone, PartialEq)]
pub struct GridCell {
    pub row: u32,
    pub col: u32,
    /// One weight per style of the spec.
    pub weights: Vec<f64>,
    /// Multiplies the spec's style weight (1 on the styles axis).
    pub style_weight_factor: f64,
}

/// The cells of a (valid) grid job, row-major, with the rows and columns:
/// 2 styles blend along a row, 4 bilinearly from the corners (styles 0, 1
/// on top, 2, 3 below); the weights axis varies the style weight along a
/// row, log-spaced from ×0.1 to ×10.
pub fn grid_cells(spec: &JobSpec) -> (u32, u32, Vec<GridCell>) {
    let n = spec.grid.steps.max(MIN_STEPS);
    let t = |i: u32| f64::from(i) / f64::from(n - 1);
    if spec.grid.axis == GridAxis::Weights {
        let weights: Vec<f64> = spec.styles.iter().map(|s| s.weight).collect();
        let cells = (0..n)
            .map(|c| GridCell {
                row: 0,
                col: c,
                weights: weights.clone(),
                style_weight_factor: 10f64.powf(2.0 * t(c) - 1.0),
            })
            .collect();
        return (1, n, cells);
    }
    if spec.styles.len() == 2 {
        let cells = (0..n)
            .map(|c| GridCell {
                row: 0,
                col: c,
                weights: vec![1.0 - t(c), t(c)],
                style_weight_factor: 1.0,
            })
            .collect();
        return (1, n, cells);
    }
    let mut cells = Vec::with_capacity((n * n) as usize);
    for r in 0..n {
        for c in 0..n {
            let (u, v) = (t(c), t(r));
            cells.push(GridCell {
                row: r,
                col: c,
                weights: vec![(1.0 - u) * (1.0 - v), u * (1.0 - v), (1.0 - u) * v, u * v],
                style_weight_factor: 1.0,
            });
        }
    }
    (n, n, cells)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{FarmTiles, Grid, StyleInput};
    use crate::names::JobKind;

    fn grid(styles: usize, steps: u32, axis: GridAxis) -> JobSpec {
        let mut spec = JobSpec::new(JobKind::Grid);
        spec.styles = (0..styles)
            .map(|i| StyleInput {
                key: format!("inputs/s{i}.png"),
                weight: 1.0,
                name: String::new(),
                mask: None,
            })
            .collect();
        spec.grid = Grid { steps, axis };
        spec
    }

    #[test]
    fn highres_scales_and_tiles() {
        let mut spec = JobSpec::new(JobKind::Highres);
        spec.tiles = Some(FarmTiles {
            tile: 32,
            overlap: 8,
        });
        spec.settings.size = 100;
        assert_eq!(spec.highres_sides(), vec![32, 64, 100]);
        assert_eq!(fit_long_side(64, 48, 32), (32, 24));
        let t = tiles(64, 48, 32, 8);
        let xs: Vec<u32> = t.iter().filter(|t| t.1 == 0).map(|t| t.0).collect();
        assert_eq!(xs, vec![0, 24, 32]);
        assert_eq!(t.len(), 3 * 2);
        assert!(t.iter().all(|&(x, y, w, h)| x + w <= 64 && y + h <= 48));
        assert_eq!(tiles(30, 20, 32, 8), vec![(0, 0, 30, 20)]);
    }

    #[test]
    fn grid_cells_blend_from_the_corners() {
        let (r, c, cells) = grid_cells(&grid(2, 3, GridAxis::Styles));
        assert_eq!((r, c, cells.len()), (1, 3, 3));
        assert_eq!(cells[0].weights, vec![1.0, 0.0]);
        assert_eq!(cells[1].weights, vec![0.5, 0.5]);
        assert_eq!(cells[2].weights, vec![0.0, 1.0]);
        let (r, c, cells) = grid_cells(&grid(4, 3, GridAxis::Styles));
        assert_eq!((r, c, cells.len()), (3, 3, 9));
        assert_eq!(cells[0].weights, vec![1.0, 0.0, 0.0, 0.0]);
        assert_eq!(cells[2].weights, vec![0.0, 1.0, 0.0, 0.0]);
        assert_eq!(cells[6].weights, vec![0.0, 0.0, 1.0, 0.0]);
        assert_eq!(cells[8].weights, vec![0.0, 0.0, 0.0, 1.0]);
        assert_eq!(cells[4].weights, vec![0.25; 4]);
        let (_, _, cells) = grid_cells(&grid(1, 3, GridAxis::Weights));
        assert!((cells[0].style_weight_factor - 0.1).abs() < 1e-12);
        assert!((cells[1].style_weight_factor - 1.0).abs() < 1e-12);
        assert!((cells[2].style_weight_factor - 10.0).abs() < 1e-9);
    }

    #[test]
    fn tiles_for_a_pixel_budget() {
        assert_eq!(tile_for_pixels(200 * 200), Some(192));
        assert_eq!(tile_for_pixels(10_000_000), Some(MAX_AUTO_TILE));
        assert_eq!(tile_for_pixels(31 * 31), None);
        assert_eq!(default_overlap(192), 48);
        assert_eq!(default_overlap(1024), 128);
    }
}
