//! The multi-task job kinds: their shape rules (beyond the settings every
//! kind shares, checked in [`crate::settings`]) and the blend weights of a
//! grid's cells, which the planner and the tests share.
//!
//! - `grid`: one content; `axis = "styles"` (default) with 2 styles (a row of
//!   `steps` blends) or 4 (a `steps × steps` grid blended bilinearly from the
//!   corners: styles 0, 1 on top, 2, 3 below); `axis = "weights"` with any
//!   styles (blended by their weights) varies the style weight along a row,
//!   log-spaced from ×0.1 to ×10.
//! - `gallery`: `contents` (content_key empty) × styles, each style alone.
//! - `texture`: no content, a texture size, any style blend; with `tile`
//!   set (by the user, or by the coordinator for a texture too big for its
//!   workers) it is split into tiles like highres.

use crate::pb::JobSpec;
use crate::settings::{
    Check, InvalidSpec, MAX_NAME_LEN, check_input_key, validate_settings, validate_styles,
};

/// Fewest and most cells along a grid axis.
pub const MIN_STEPS: u32 = 2;
/// Most cells along a grid axis.
pub const MAX_STEPS: u32 = 32;
/// Most content × style pairs in one gallery.
pub const MAX_GALLERY_CELLS: usize = 1024;

/// Most tiles at the finest scale of a highres job.
pub const MAX_TILES: usize = 4096;

/// Whether `spec` is planned as tiles across workers: highres, or a texture
/// with a tile size.
pub fn is_tiled(spec: &JobSpec) -> bool {
    spec.kind == "highres" || (spec.kind == "texture" && spec.tile > 0)
}

/// The finished picture's `(width, height)` of a tiled job: the content
/// fitted to `size`, or the texture size.
pub fn tiled_dims(spec: &JobSpec) -> (u32, u32) {
    let s = spec.settings.clone().unwrap_or_default();
    if spec.kind == "texture" {
        (s.texture_width, s.texture_height)
    } else {
        fit_long_side(spec.content_width, spec.content_height, s.size)
    }
}

/// The long side of every scale of a tiled job: the whole picture at
/// `min(long side, tile)` on one worker, then doubling up to the long side.
pub fn highres_sides(spec: &JobSpec) -> Vec<u32> {
    let s = spec.settings.clone().unwrap_or_default();
    let size = if spec.kind == "texture" {
        s.texture_width.max(s.texture_height)
    } else {
        s.size
    };
    let mut sides = vec![size.min(spec.tile.max(MIN_TILE))];
    while let Some(&last) = sides.last() {
        if last >= size {
            break;
        }
        sides.push((last * 2).min(size));
    }
    sides
}

/// `(width, height)` with the long side `long`, keeping the aspect ratio,
/// exactly as the engine's `fit_long_side`.
pub fn fit_long_side(width: u32, height: u32, long: u32) -> (u32, u32) {
    let scale = f64::from(long) / f64::from(width.max(height).max(1));
    let w = ((f64::from(width) * scale).round() as u32).max(1);
    let h = ((f64::from(height) * scale).round() as u32).max(1);
    (w, h)
}

/// Overlapping tiles `(x, y, w, h)` covering `width × height`: tiles of
/// `tile` px stepping by `tile - overlap`, the last flush with the edge.
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

/// Smallest highres tile.
pub const MIN_TILE: u32 = 32;
/// Largest tile the coordinator chooses when it splits a job by itself.
pub const MAX_AUTO_TILE: u32 = 1024;

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

/// The tile rules shared by highres and tiled textures, and the tile count.
fn check_tiles(spec: &JobSpec) -> Check {
    if !spec.tile.is_multiple_of(16) || !(MIN_TILE..=crate::settings::MAX_SIZE).contains(&spec.tile)
    {
        return Err(InvalidSpec::new(
            "tile",
            format!("{} is not a tile size", spec.tile),
            format!(
                "use a multiple of 16 in {MIN_TILE}..={}",
                crate::settings::MAX_SIZE
            ),
        ));
    }
    if spec.overlap > spec.tile / 2 {
        return Err(InvalidSpec::new(
            "overlap",
            format!(
                "{} is more than half the tile ({})",
                spec.overlap, spec.tile
            ),
            "use an overlap of at most tile / 2",
        ));
    }
    let (w, h) = tiled_dims(spec);
    let n = tiles(w, h, spec.tile, spec.overlap).len();
    if n > MAX_TILES {
        return Err(InvalidSpec::new(
            "tile",
            format!("{n} tiles at {w}×{h}"),
            format!("use larger tiles: at most {MAX_TILES} per scale"),
        ));
    }
    Ok(())
}

pub(crate) fn validate_highres(spec: &JobSpec) -> Check {
    let s = settings(spec)?;
    content(spec)?;
    validate_styles(spec)?;
    if s.texture_width > 0 || s.texture_height > 0 || !s.scales.is_empty() || s.multiscale {
        return Err(InvalidSpec::new(
            "settings.scales",
            "explicit scales, multiscale or a texture size in a highres job",
            "highres chooses its scales (the whole at the tile size, then doubling); give only size, tile and overlap",
        ));
    }
    if spec.content_width == 0 || spec.content_height == 0 {
        return Err(InvalidSpec::new(
            "content_width",
            "0",
            "send the content's width and height (the CLI does)",
        ));
    }
    check_tiles(spec)?;
    validate_settings(s, false, true)
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

/// The cells of a (valid) grid spec, row-major, with the rows and columns.
pub fn grid_cells(spec: &JobSpec) -> (u32, u32, Vec<GridCell>) {
    let n = spec.steps.max(MIN_STEPS);
    let t = |i: u32| f64::from(i) / f64::from(n - 1);
    if spec.axis == "weights" {
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

pub(crate) fn validate_grid(spec: &JobSpec) -> Check {
    let s = settings(spec)?;
    if s.texture_width > 0 || s.texture_height > 0 {
        return Err(InvalidSpec::new(
            "settings.texture_width",
            "a texture size in a grid job",
            "grids interpolate styles over a content image; use kind \"texture\" for textures",
        ));
    }
    content(spec)?;
    validate_styles(spec)?;
    if !(MIN_STEPS..=MAX_STEPS).contains(&spec.steps) {
        return Err(InvalidSpec::new(
            "steps",
            format!("{} is out of range", spec.steps),
            format!("use {MIN_STEPS}..={MAX_STEPS} cells per axis"),
        ));
    }
    match spec.axis.as_str() {
        "" | "styles" if !matches!(spec.styles.len(), 2 | 4) => Err(InvalidSpec::new(
            "styles",
            format!("{} styles in a style grid", spec.styles.len()),
            "give 2 styles (a row of blends) or 4 (corners of a bilinear grid), or use axis \"weights\"",
        )),
        "" | "styles" | "weights" => validate_settings(s, false, true),
        other => Err(InvalidSpec::new(
            "axis",
            format!("unknown axis {other:?}"),
            "use \"styles\" (blend the styles) or \"weights\" (vary the style weight)",
        )),
    }
}

pub(crate) fn validate_gallery(spec: &JobSpec) -> Check {
    let s = settings(spec)?;
    if !spec.content_key.is_empty() {
        return Err(InvalidSpec::new(
            "content_key",
            "set in a gallery job",
            "list the gallery's pictures in `contents`",
        ));
    }
    if spec.contents.is_empty() {
        return Err(InvalidSpec::new(
            "contents",
            "empty",
            "give at least one content image",
        ));
    }
    for (i, c) in spec.contents.iter().enumerate() {
        check_input_key(&format!("contents[{i}].input_key"), &c.input_key)?;
        label(&format!("contents[{i}].name"), &c.name)?;
    }
    validate_styles(spec)?;
    if let Some(i) = spec.styles.iter().position(|s| s.weight <= 0.0) {
        return Err(InvalidSpec::new(
            format!("styles[{i}].weight"),
            "0 in a gallery",
            "every gallery style is used on its own: give each a weight > 0",
        ));
    }
    let cells = spec.contents.len() * spec.styles.len();
    if cells > MAX_GALLERY_CELLS {
        return Err(InvalidSpec::new(
            "contents",
            format!("{cells} content × style pairs"),
            format!("split the gallery into jobs of at most {MAX_GALLERY_CELLS} pairs"),
        ));
    }
    if s.texture_width > 0 || s.texture_height > 0 {
        return Err(InvalidSpec::new(
            "settings.texture_width",
            "a texture size in a gallery job",
            "use kind \"texture\" for textures",
        ));
    }
    validate_settings(s, false, true)
}

pub(crate) fn validate_texture(spec: &JobSpec) -> Check {
    let s = settings(spec)?;
    if s.texture_width == 0 || s.texture_height == 0 {
        return Err(InvalidSpec::new(
            "settings.texture_width",
            "0 in a texture job",
            "give the texture's width and height (e.g. --texture 512x512)",
        ));
    }
    if spec.tile > 0 {
        if s.tileable {
            return Err(InvalidSpec::new(
                "tile",
                "tiles across workers for a tileable texture",
                "drop --tile (tiles would not wrap around) or --tileable",
            ));
        }
        if !s.scales.is_empty() || s.multiscale {
            return Err(InvalidSpec::new(
                "settings.scales",
                "explicit scales or multiscale in a tiled texture",
                "a tiled texture chooses its scales (the whole at the tile size, then doubling)",
            ));
        }
        check_tiles(spec)?;
    }
    crate::settings::validate_single(spec)
}

fn settings(spec: &JobSpec) -> Result<&crate::pb::RenderSettings, InvalidSpec> {
    spec.settings.as_ref().ok_or_else(|| {
        InvalidSpec::new(
            "settings",
            "missing",
            "send every render setting explicitly",
        )
    })
}

fn content(spec: &JobSpec) -> Check {
    if spec.content_key.is_empty() {
        return Err(InvalidSpec::new(
            "content_key",
            "empty",
            "give the content image",
        ));
    }
    check_input_key("content_key", &spec.content_key)?;
    label("content_name", &spec.content_name)
}

/// Labels are free text shown on sheets and pages (escaped there).
pub(crate) fn label(field: &str, s: &str) -> Check {
    if s.chars().count() > MAX_NAME_LEN || s.chars().any(char::is_control) {
        return Err(InvalidSpec::new(
            field,
            "too long or holds control characters",
            format!("use at most {MAX_NAME_LEN} printable characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::StyleInput;

    fn grid(styles: usize, steps: u32, axis: &str) -> JobSpec {
        JobSpec {
            kind: "grid".into(),
            styles: (0..styles)
                .map(|i| StyleInput {
                    input_key: format!("inputs/s{i}.png"),
                    weight: 1.0,
                    ..Default::default()
                })
                .collect(),
            steps,
            axis: axis.into(),
            ..Default::default()
        }
    }

    #[test]
    fn highres_scales_and_tiles() {
        let spec = JobSpec {
            tile: 32,
            settings: Some(crate::pb::RenderSettings {
                size: 100,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(highres_sides(&spec), vec![32, 64, 100]);
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
        let (r, c, cells) = grid_cells(&grid(2, 3, ""));
        assert_eq!((r, c, cells.len()), (1, 3, 3));
        assert_eq!(cells[0].weights, vec![1.0, 0.0]);
        assert_eq!(cells[1].weights, vec![0.5, 0.5]);
        assert_eq!(cells[2].weights, vec![0.0, 1.0]);
        let (r, c, cells) = grid_cells(&grid(4, 3, "styles"));
        assert_eq!((r, c, cells.len()), (3, 3, 9));
        assert_eq!(cells[0].weights, vec![1.0, 0.0, 0.0, 0.0]);
        assert_eq!(cells[2].weights, vec![0.0, 1.0, 0.0, 0.0]);
        assert_eq!(cells[6].weights, vec![0.0, 0.0, 1.0, 0.0]);
        assert_eq!(cells[8].weights, vec![0.0, 0.0, 0.0, 1.0]);
        assert_eq!(cells[4].weights, vec![0.25; 4]);
        let (_, _, cells) = grid_cells(&grid(1, 3, "weights"));
        assert!((cells[0].style_weight_factor - 0.1).abs() < 1e-12);
        assert!((cells[1].style_weight_factor - 1.0).abs() < 1e-12);
        assert!((cells[2].style_weight_factor - 10.0).abs() < 1e-9);
    }
}
