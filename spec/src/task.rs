//! What one task of a job does, as the planner decided it: a typed plan per
//! task kind. The coordinator's planner makes them, the wire carries them
//! (`stylefarm_proto`'s conversions), and a worker runs them.

use crate::error::{Check, InvalidSpec, truncate};
use crate::job::StyleInput;
use crate::names::{Pooling, TaskKind};
use crate::render::{LayerWeight, RenderSettings};
use crate::video::{VideoStep, VideoTask};

/// What a task does.
// A stylize plan is a few hundred bytes larger than the others; plans are
// made once per task and never held in bulk, so it is not boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum TaskPlan {
    /// One style's Gram targets into the shared cache.
    Targets(TargetsTask),
    /// One optimisation: a whole picture, a texture, or one tile of a scale.
    Stylize(StylizeTask),
    /// Several whole pictures of one size, optimised together.
    Batch(BatchTask),
    /// Earlier tasks' pictures combined into one deliverable.
    Assemble(AssembleTask),
    /// One step of a video job.
    Video(VideoTask),
}

impl TaskPlan {
    /// The kind of task this plan is.
    pub fn kind(&self) -> TaskKind {
        match self {
            TaskPlan::Targets(_) => TaskKind::Targets,
            TaskPlan::Stylize(_) => TaskKind::Stylize,
            TaskPlan::Batch(_) => TaskKind::Batch,
            TaskPlan::Assemble(_) => TaskKind::Assemble,
            TaskPlan::Video(v) => match v.step {
                VideoStep::Frames => TaskKind::Frames,
                VideoStep::Flow(_) => TaskKind::Flow,
                VideoStep::Keyframes => TaskKind::Keyframes,
                VideoStep::Segment(_) => TaskKind::Segment,
                VideoStep::Encode => TaskKind::Encode,
            },
        }
    }
}

/// One style target of the cache: the style side it was computed at, in
/// pixels, and its key (`cache/targets/<sha256>.safetensors`).
#[derive(Debug, Clone, PartialEq)]
pub struct CachedTarget {
    pub side: u32,
    pub key: String,
}

/// `targets`: the Gram matrices of `style_key` at every side, each written
/// to its cache key.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetsTask {
    pub style_key: String,
    /// The style's region map (`inputs/…`): guided targets, one set of
    /// Grams per region (docs/doodles.md); `None` = whole-image Grams.
    pub mask_key: Option<String>,
    pub targets: Vec<CachedTarget>,
    pub style_layers: Vec<LayerWeight>,
    pub pooling: Pooling,
    /// Model id ("" = the farm's default).
    pub model: String,
}

/// Cached targets a stylize task reads instead of computing its own.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedTargets {
    /// One key per style and scale, style-major (styles × scales).
    pub keys: Vec<String>,
    /// The style side of each scale the keys were made at, in pixels.
    pub sides: Vec<u32>,
}

/// Where a tile lies in its scale's picture, all in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TileCrop {
    /// The scale's whole picture `(width, height)`: the content (or the
    /// previous scale) is resized to it, then cropped.
    pub full: (u32, u32),
    /// Top-left corner `(x, y)` of the tile.
    pub at: (u32, u32),
    /// `(width, height)` of the tile.
    pub size: (u32, u32),
}

/// `stylize`: one render, with its settings complete (the planner has
/// applied the cell's style weight, the scale's size and the texture size).
#[derive(Debug, Clone, PartialEq)]
pub struct StylizeTask {
    /// The content photo; `None` for textures.
    pub content_key: Option<String>,
    /// The content's `(width, height)` as the job states it; a tile checks
    /// the fetched content against it.
    pub content_size: Option<(u32, u32)>,
    pub styles: Vec<StyleInput>,
    pub settings: RenderSettings,
    /// File name of the picture below the task's output prefix.
    pub output_name: String,
    /// Cached targets to read; `None` = computed in the task.
    pub targets: Option<SharedTargets>,
    /// The previous scale's picture (highres): the render starts from it,
    /// resized to the scale (and cropped to the tile).
    pub previous_scale: Option<String>,
    /// The tile of a scale to render; `None` = the whole picture.
    pub tile: Option<TileCrop>,
    /// The output's region map (`inputs/…`; the doodle without content):
    /// a guided render, each style in `styles` carrying its own mask. A
    /// tile crops it like the content.
    pub content_mask: Option<String>,
}

/// `batch`: whole pictures of one size (no tiles, no region maps, no
/// snapshots), each written below the task's output prefix under its own
/// `output_name`. A worker renders them in one batched pass per iteration,
/// or one after another where they cannot share passes.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchTask {
    pub pictures: Vec<StylizeTask>,
}

/// One picture on a contact sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct SheetCell {
    /// `jobs/<job>/<task>/<name>.png`.
    pub key: String,
    pub row: u32,
    pub col: u32,
    /// Settings shown beside the picture.
    pub caption: String,
}

/// A labelled contact sheet of `rows × cols` cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Sheet {
    pub cells: Vec<SheetCell>,
    pub rows: u32,
    pub cols: u32,
    pub row_labels: Vec<String>,
    pub col_labels: Vec<String>,
}

/// One tile of a scale, where it goes in the whole picture.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedTile {
    /// `jobs/<job>/<task>/tile.png`.
    pub key: String,
    /// Top-left corner in the whole picture, pixels.
    pub x: u32,
    pub y: u32,
}

/// The tiles of one scale, feathered together.
#[derive(Debug, Clone, PartialEq)]
pub struct Mosaic {
    pub tiles: Vec<PlacedTile>,
    /// The whole picture's `(width, height)`, pixels.
    pub full: (u32, u32),
    /// Overlap of neighbouring tiles to feather over, pixels.
    pub overlap: u32,
    /// File name of the assembled picture below the output prefix.
    pub output_name: String,
}

/// `assemble`: what to make of earlier tasks' pictures.
#[derive(Debug, Clone, PartialEq)]
pub enum AssembleTask {
    /// Grids: `sheet.png`, and each cell copied to `cells/`.
    Sheet(Sheet),
    /// Galleries: `sheet.png` and a static page `gallery/index.html` with
    /// `gallery/images/` and `gallery/thumbs/`.
    Gallery(Sheet),
    /// Highres: the tiles of one scale as one picture.
    Tiles(Mosaic),
}

/// Checks a file name a task writes below its output prefix: `*.png` of
/// `[A-Za-z0-9._-]`, not starting with a dot.
pub fn check_output_name(field: &str, name: &str) -> Check {
    if name.ends_with(".png")
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        Ok(())
    } else {
        Err(InvalidSpec::new(
            field,
            format!("{:?} is not an output file name", truncate(name)),
            "use a name.png of A-Z a-z 0-9 . _ - that does not start with a dot",
        ))
    }
}
