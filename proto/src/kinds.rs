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
//! - `texture`: no content, a texture size, any style blend.

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
