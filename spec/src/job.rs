//! [`JobSpec`]: what a client asks the farm for, checked as a whole by
//! [`JobSpec::validate`] with one arm per [`JobKind`].

use crate::error::{Check, InvalidSpec, truncate};
use crate::geometry::{fit_long_side, tiles};
use crate::limits::{
    MAX_BATCH, MAX_GALLERY_CELLS, MAX_NAME_LEN, MAX_SIDE, MAX_STEPS, MAX_TILES, MIN_SIDE,
    MIN_STEPS, MIN_TILE,
};
use crate::names::{GridAxis, JobKind};
use crate::render::{RenderSettings, Scales, check_input_key, non_negative, range_u32};
use crate::video::VideoJob;

/// An uploaded picture: its input key, a label, and its size when known.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Picture {
    /// `inputs/<sha256>.<ext>`.
    pub key: String,
    /// Label for sheets and pages (free text; may be empty).
    pub name: String,
    /// `(width, height)` in pixels as the client decoded it; `None` when not
    /// sent. Highres needs it; a single job too big for the workers is split by it.
    pub size: Option<(u32, u32)>,
}

/// One style image and its blend weight.
#[derive(Debug, Clone, PartialEq)]
pub struct StyleInput {
    /// `inputs/<sha256>.<ext>`.
    pub key: String,
    /// Blend weight, finite and ≥ 0 (Gram matrices are averaged by it).
    pub weight: f64,
    /// Label for sheets and pages (free text).
    pub name: String,
    /// `inputs/<sha256>.<ext>` of this style's region map (semantic style
    /// transfer and doodles, docs/doodles.md); `None` = no mask. With a
    /// content mask every style has one.
    pub mask: Option<String>,
}

/// The shape of a grid job.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Grid {
    /// Cells per axis.
    pub steps: u32,
    pub axis: GridAxis,
}

/// Tiles across workers (highres, tiled textures).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FarmTiles {
    /// Tile side in pixels, a multiple of 16.
    pub tile: u32,
    /// Overlap of neighbouring tiles in pixels, at most `tile / 2`.
    pub overlap: u32,
}

/// What a client asks the farm for.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    /// Free text label for listings.
    pub name: String,
    pub kind: JobKind,
    /// Higher runs first; then submission order.
    pub priority: i32,
    /// The content photo of single (unless a texture), grid and highres jobs.
    pub content: Option<Picture>,
    /// Every content photo of a gallery.
    pub contents: Vec<Picture>,
    pub styles: Vec<StyleInput>,
    pub settings: RenderSettings,
    /// Grid jobs only.
    pub grid: Grid,
    /// Highres jobs, and textures split into tiles.
    pub tiles: Option<FarmTiles>,
    /// Grid and gallery jobs: pictures per batch task. `None` = the
    /// planner sizes batches by the live GPU workers' memory; 1 = a task per
    /// picture (docs/batching.md).
    pub batch: Option<u32>,
    /// The output's region map (semantic style transfer): the content's, or
    /// without content the doodle itself (docs/doodles.md). Its `size`
    /// sizes a doodle.
    pub content_mask: Option<Picture>,
    /// Video jobs: the source video and its controls.
    pub video: Option<VideoJob>,
}

impl JobSpec {
    /// A job of `kind` with no pictures and default settings.
    pub fn new(kind: JobKind) -> Self {
        Self {
            name: String::new(),
            kind,
            priority: 0,
            content: None,
            contents: Vec::new(),
            styles: Vec::new(),
            settings: RenderSettings::default(),
            grid: Grid::default(),
            tiles: None,
            batch: None,
            content_mask: None,
            video: None,
        }
    }

    /// Checks every field; the first problem found is returned.
    pub fn validate(&self) -> Check {
        label("name", &self.name)?;
        self.validate_other_kinds_fields()?;
        // One arm per job kind: a new kind adds its own shape rules here.
        match self.kind {
            JobKind::Single => self.validate_single(),
            JobKind::Grid => self.validate_grid(),
            JobKind::Gallery => self.validate_gallery(),
            JobKind::Texture => self.validate_texture(),
            JobKind::Highres => self.validate_highres(),
            JobKind::Video => self.validate_video(),
        }?;
        self.validate_masks()?;
        self.validate_output_size()
    }

    /// Refuses the keyed fields of other kinds (a gallery's `contents`, a
    /// video job's `video`): ignored, their keys would reach
    /// [`Self::input_keys`] unchecked.
    fn validate_other_kinds_fields(&self) -> Check {
        if !self.contents.is_empty() && self.kind != JobKind::Gallery {
            return Err(InvalidSpec::new(
                "contents",
                format!(
                    "{} given in a {:?} job",
                    self.contents.len(),
                    self.kind.as_str()
                ),
                "only gallery jobs take several contents; use content_key",
            ));
        }
        if let Some(n) = self.batch {
            if !matches!(self.kind, JobKind::Grid | JobKind::Gallery) {
                return Err(InvalidSpec::new(
                    "batch",
                    format!("given in a {:?} job", self.kind.as_str()),
                    "only grid and gallery jobs are split into batches of pictures; drop --batch",
                ));
            }
            if !(1..=MAX_BATCH).contains(&n) {
                return Err(InvalidSpec::new(
                    "batch",
                    format!("{n} pictures per task is out of range"),
                    format!("use 1..={MAX_BATCH}, or leave it out to let the farm choose"),
                ));
            }
        }
        if self.video.is_some() && self.kind != JobKind::Video {
            return Err(InvalidSpec::new(
                "video",
                format!("given in a {:?} job", self.kind.as_str()),
                "only video jobs take a video: use kind \"video\", or drop the video",
            ));
        }
        Ok(())
    }

    /// With the content's size known: the picture at every scale has each
    /// side of at least [`MIN_SIDE`] pixels (as the engine requires).
    fn validate_output_size(&self) -> Check {
        // A doodle's output takes the doodle's aspect ratio.
        let picture = self.content.as_ref().or(self.content_mask.as_ref());
        let Some((w, h)) = picture.and_then(|c| c.size) else {
            return Ok(());
        };
        if self.settings.texture.is_some() || w == 0 || h == 0 {
            return Ok(());
        }
        let sides = if self.is_tiled() {
            self.highres_sides()
        } else {
            self.settings.scale_sides()
        };
        for side in sides {
            let (ow, oh) = fit_long_side(w, h, side);
            if ow.min(oh) < MIN_SIDE {
                let need = (f64::from(MIN_SIDE) * f64::from(w.max(h)) / f64::from(w.min(h))).ceil();
                return Err(InvalidSpec::new(
                    "settings.size",
                    format!(
                        "the content is {w}×{h}; at size {side} its short side would be {} px",
                        ow.min(oh)
                    ),
                    format!(
                        "each side must be at least {MIN_SIDE} px: use a size of at least {need} (at every scale) or crop the picture"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Checks that the style picture `name` of `(width, height)` pixels keeps
    /// at least [`MIN_SIDE`] pixels on its short side at every scale once
    /// resized to `style_scale` × the scale's long side, as the engine
    /// resizes styles; smaller, the deepest style layers see nothing. For
    /// clients, which know the picture's size before they upload it.
    pub fn check_style_size(&self, name: &str, (width, height): (u32, u32)) -> Check {
        let Some(&smallest) = self.settings.scale_sides().iter().min() else {
            return Ok(());
        };
        let long = (f64::from(smallest) * self.settings.style_scale).round() as u32;
        let (sw, sh) = fit_long_side(width, height, long.max(1));
        if width == 0 || height == 0 || sw.min(sh) >= MIN_SIDE {
            return Ok(());
        }
        let need =
            f64::from(MIN_SIDE) * f64::from(width.max(height)) / f64::from(width.min(height));
        Err(InvalidSpec::new(
            "styles",
            format!(
                "the style {name} is {width}×{height}; resized to {long} px on its long side (style scale × size) its short side would be {} px",
                sw.min(sh)
            ),
            format!(
                "each side must be at least {MIN_SIDE} px: raise --style-scale so that style scale × size ≥ {}, or crop the painting closer to square",
                need.ceil()
            ),
        ))
    }

    /// Every input key the job refers to (content, gallery contents,
    /// styles, init image, then the region maps), in that order; the
    /// coordinator checks that each exists.
    pub fn input_keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = Vec::with_capacity(self.styles.len() + 2);
        keys.extend(self.content.iter().map(|c| c.key.as_str()));
        keys.extend(self.contents.iter().map(|c| c.key.as_str()));
        keys.extend(self.styles.iter().map(|s| s.key.as_str()));
        keys.extend(self.settings.init_key.as_deref());
        keys.extend(self.content_mask.iter().map(|c| c.key.as_str()));
        keys.extend(self.styles.iter().filter_map(|s| s.mask.as_deref()));
        keys.extend(self.video.iter().map(|v| v.key.as_str()));
        keys
    }

    /// Whether the job is planned as tiles across workers.
    pub fn is_tiled(&self) -> bool {
        self.tiles.is_some() && matches!(self.kind, JobKind::Highres | JobKind::Texture)
    }

    /// The finished picture's `(width, height)` of a tiled job: the content
    /// fitted to `size`, or the texture size.
    pub fn tiled_dims(&self) -> (u32, u32) {
        match (
            self.settings.texture,
            self.content.as_ref().and_then(|c| c.size),
        ) {
            (Some(t), _) => t,
            (None, Some((w, h))) => fit_long_side(w, h, self.settings.size),
            (None, None) => (self.settings.size, self.settings.size),
        }
    }

    /// The long side of every scale of a tiled job: the whole picture at
    /// `min(long side, tile)` on one worker, then doubling up to the long side.
    pub fn highres_sides(&self) -> Vec<u32> {
        let size = match self.settings.texture {
            Some((w, h)) => w.max(h),
            None => self.settings.size,
        };
        let tile = self.tiles.map_or(MIN_TILE, |t| t.tile.max(MIN_TILE));
        let mut sides = vec![size.min(tile)];
        while let Some(&last) = sides.last() {
            if last >= size {
                break;
            }
            sides.push((last * 2).min(size));
        }
        sides
    }

    fn validate_single(&self) -> Check {
        let texture = self.settings.texture.is_some();
        if texture {
            if let Some(c) = &self.content {
                return Err(InvalidSpec::new(
                    "content_key",
                    format!(
                        "{:?} given together with texture_width/texture_height",
                        truncate(&c.key)
                    ),
                    "give either a content image or a texture size (both texture dimensions > 0), not both",
                ));
            }
            self.settings.validate_texture()?;
        } else if self.content.is_none() && self.content_mask.is_some() {
            // A doodle: sized by its mask (see `validate_masks`).
        } else {
            match &self.content {
                None => {
                    return Err(InvalidSpec::new(
                        "content_key",
                        "empty and no texture size given",
                        "give a content image key, texture_width and texture_height (> 0) for texture mode, or a content mask alone for a doodle",
                    ));
                }
                Some(c) => check_input_key("content_key", &c.key)?,
            }
        }
        if let Some(c) = &self.content {
            label("content_name", &c.name)?;
        }
        self.validate_styles()?;
        self.settings.validate(self.content.is_some())
    }

    fn validate_grid(&self) -> Check {
        if self.settings.texture.is_some() {
            return Err(InvalidSpec::new(
                "settings.texture_width",
                "a texture size in a grid job",
                "grids interpolate styles over a content image; use kind \"texture\" for textures",
            ));
        }
        self.validate_content()?;
        self.validate_styles()?;
        if !(MIN_STEPS..=MAX_STEPS).contains(&self.grid.steps) {
            return Err(InvalidSpec::new(
                "steps",
                format!("{} is out of range", self.grid.steps),
                format!("use {MIN_STEPS}..={MAX_STEPS} cells per axis"),
            ));
        }
        if self.grid.axis == GridAxis::Styles && !matches!(self.styles.len(), 2 | 4) {
            return Err(InvalidSpec::new(
                "styles",
                format!("{} styles in a style grid", self.styles.len()),
                "give 2 styles (a row of blends) or 4 (corners of a bilinear grid), or use axis \"weights\"",
            ));
        }
        self.settings.validate(true)
    }

    fn validate_gallery(&self) -> Check {
        if self.content.is_some() {
            return Err(InvalidSpec::new(
                "content_key",
                "set in a gallery job",
                "list the gallery's pictures in `contents`",
            ));
        }
        if self.contents.is_empty() {
            return Err(InvalidSpec::new(
                "contents",
                "empty",
                "give at least one content image",
            ));
        }
        for (i, c) in self.contents.iter().enumerate() {
            check_input_key(&format!("contents[{i}].input_key"), &c.key)?;
            label(&format!("contents[{i}].name"), &c.name)?;
        }
        self.validate_styles()?;
        if let Some(i) = self.styles.iter().position(|s| s.weight <= 0.0) {
            return Err(InvalidSpec::new(
                format!("styles[{i}].weight"),
                "0 in a gallery",
                "every gallery style is used on its own: give each a weight > 0",
            ));
        }
        let cells = self.contents.len() * self.styles.len();
        if cells > MAX_GALLERY_CELLS {
            return Err(InvalidSpec::new(
                "contents",
                format!("{cells} content × style pairs"),
                format!("split the gallery into jobs of at most {MAX_GALLERY_CELLS} pairs"),
            ));
        }
        if self.settings.texture.is_some() {
            return Err(InvalidSpec::new(
                "settings.texture_width",
                "a texture size in a gallery job",
                "use kind \"texture\" for textures",
            ));
        }
        self.settings.validate(true)
    }

    fn validate_texture(&self) -> Check {
        if self.settings.texture.is_none() {
            return Err(InvalidSpec::new(
                "settings.texture_width",
                "0 in a texture job",
                "give the texture's width and height (e.g. --texture 512x512)",
            ));
        }
        if self.tiles.is_some() {
            if self.settings.tileable {
                return Err(InvalidSpec::new(
                    "tile",
                    "tiles across workers for a tileable texture",
                    "drop --tile (tiles would not wrap around) or --tileable",
                ));
            }
            if self.settings.scales != Scales::Single {
                return Err(InvalidSpec::new(
                    "settings.scales",
                    "explicit scales or multiscale in a tiled texture",
                    "a tiled texture chooses its scales (the whole at the tile size, then doubling)",
                ));
            }
            self.validate_tiles()?;
        }
        self.validate_single()
    }

    fn validate_highres(&self) -> Check {
        self.validate_content()?;
        self.validate_styles()?;
        if self.settings.texture.is_some() || self.settings.scales != Scales::Single {
            return Err(InvalidSpec::new(
                "settings.scales",
                "explicit scales, multiscale or a texture size in a highres job",
                "highres chooses its scales (the whole at the tile size, then doubling); give only size, tile and overlap",
            ));
        }
        if self.content.as_ref().and_then(|c| c.size).is_none() {
            return Err(InvalidSpec::new(
                "content_width",
                "0",
                "send the content's width and height (the CLI does)",
            ));
        }
        self.validate_tiles()?;
        self.settings.validate(true)
    }

    /// The tile rules shared by highres and tiled textures, and the tile count.
    fn validate_tiles(&self) -> Check {
        let Some(FarmTiles { tile, overlap }) = self.tiles else {
            return Err(InvalidSpec::new(
                "tile",
                "0",
                format!("give the tile side: a multiple of 16 in {MIN_TILE}..={MAX_SIDE}"),
            ));
        };
        if !tile.is_multiple_of(16) || !(MIN_TILE..=MAX_SIDE).contains(&tile) {
            return Err(InvalidSpec::new(
                "tile",
                format!("{tile} is not a tile size"),
                format!("use a multiple of 16 in {MIN_TILE}..={MAX_SIDE}"),
            ));
        }
        if overlap > tile / 2 {
            return Err(InvalidSpec::new(
                "overlap",
                format!("{overlap} is more than half the tile ({tile})"),
                "use an overlap of at most tile / 2",
            ));
        }
        // The picture's size before its tiles are counted: counting them
        // for a claimed size near u32::MAX overflowed and ran out of memory.
        match self.settings.texture {
            Some(_) => self.settings.validate_texture()?,
            None => range_u32("settings.size", self.settings.size, MIN_SIDE, MAX_SIDE)?,
        }
        let (w, h) = self.tiled_dims();
        let n = tiles(w, h, tile, overlap).len();
        if n > MAX_TILES {
            return Err(InvalidSpec::new(
                "tile",
                format!("{n} tiles at {w}×{h}"),
                format!("use larger tiles: at most {MAX_TILES} per scale"),
            ));
        }
        Ok(())
    }

    fn validate_content(&self) -> Check {
        let Some(c) = &self.content else {
            return Err(InvalidSpec::new(
                "content_key",
                "empty",
                "give the content image",
            ));
        };
        check_input_key("content_key", &c.key)?;
        label("content_name", &c.name)
    }

    pub(crate) fn validate_styles(&self) -> Check {
        if self.styles.is_empty() {
            return Err(InvalidSpec::new(
                "styles",
                "empty",
                "give at least one style image",
            ));
        }
        let mut sum = 0.0;
        for (i, style) in self.styles.iter().enumerate() {
            check_input_key(&format!("styles[{i}].input_key"), &style.key)?;
            non_negative(&format!("styles[{i}].weight"), style.weight)?;
            label(&format!("styles[{i}].name"), &style.name)?;
            sum += style.weight;
        }
        if !(sum > 0.0 && sum.is_finite()) {
            return Err(InvalidSpec::new(
                "styles",
                format!("the style weights sum to {sum}"),
                "give at least one style a finite weight > 0",
            ));
        }
        Ok(())
    }
}

/// Labels are free text shown on sheets and pages (escaped there): at most
/// [`MAX_NAME_LEN`] printable characters.
pub fn label(field: &str, s: &str) -> Check {
    if s.chars().count() > MAX_NAME_LEN || s.chars().any(char::is_control) {
        return Err(InvalidSpec::new(
            field,
            format!("{:?} is too long or holds control characters", truncate(s)),
            format!("use at most {MAX_NAME_LEN} printable characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(content: (u32, u32), size: u32) -> JobSpec {
        let mut s = JobSpec::new(JobKind::Single);
        s.content = Some(Picture {
            key: "inputs/c.png".into(),
            name: String::new(),
            size: Some(content),
        });
        s.styles = vec![StyleInput {
            key: "inputs/s.png".into(),
            weight: 1.0,
            name: String::new(),
            mask: None,
        }];
        s.settings.size = size;
        s
    }

    #[test]
    fn a_picture_too_thin_for_its_size_is_refused_with_the_size_that_works() {
        let e = single((1200, 24), 64).validate().unwrap_err();
        assert_eq!(e.field, "settings.size");
        assert!(
            e.problem.contains("1200×24") && e.problem.contains("1 px"),
            "{e}"
        );
        assert!(e.hint.contains("at least 800"), "{e}");
        assert_eq!(single((1200, 24), 800).validate(), Ok(()));
        // Unknown sizes are left to the workers.
        let mut unknown = single((1200, 24), 64);
        unknown.content.as_mut().unwrap().size = None;
        assert_eq!(unknown.validate(), Ok(()));
    }

    #[test]
    fn batch_sizes_belong_to_grids_and_galleries_and_stay_in_range() {
        let mut s = single((640, 480), 64);
        s.batch = Some(4);
        let e = s.validate().unwrap_err();
        assert_eq!(e.field, "batch");
        assert!(e.problem.contains("\"single\""), "{e}");
        s.kind = JobKind::Grid;
        s.styles.push(s.styles[0].clone());
        s.grid.steps = 3;
        assert_eq!(s.validate(), Ok(()));
        for n in [0, MAX_BATCH + 1] {
            s.batch = Some(n);
            let e = s.validate().unwrap_err();
            assert_eq!(e.field, "batch", "{n}");
            assert!(e.hint.contains(&format!("1..={MAX_BATCH}")), "{e}");
        }
    }
}
