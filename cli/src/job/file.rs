//! A TOML job file (`--job FILE`, described in docs/jobs.md): the job's
//! kind, pictures and shape, and a `[render]` table of engine controls.
//! Relative paths in it are relative to the file.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;
use stylefarm_spec::{GridAxis, JobKind, VideoFormat};

use crate::settings::{RenderLayer, init_name};

/// A job file, its paths made relative to the working folder.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobFile {
    pub kind: Option<JobKind>,
    pub name: Option<String>,
    pub priority: Option<i32>,
    pub content: Option<PathBuf>,
    pub contents: Vec<PathBuf>,
    /// `PATH` or `PATH:WEIGHT`, as `--style`.
    pub styles: Vec<String>,
    pub steps: Option<u32>,
    pub axis: Option<GridAxis>,
    pub overlap: Option<u32>,
    /// Grid, gallery: pictures per batch task, as `--batch`.
    pub batch: Option<u32>,
    /// The content's region map, or without `content` the doodle.
    pub content_mask: Option<PathBuf>,
    /// One region map per entry of `styles`, in the same order.
    pub style_masks: Vec<PathBuf>,
    /// The source of a video job, and its controls (as the flags).
    pub video: Option<PathBuf>,
    pub fps: Option<f64>,
    pub start: Option<f64>,
    pub duration: Option<f64>,
    pub keyframe_every: Option<u32>,
    pub temporal_weight: Option<f64>,
    pub frame_iterations: Option<u32>,
    pub video_formats: Vec<VideoFormat>,
    pub render: RenderLayer,
    /// A schedule's series inputs (`stylefarm schedule add` only).
    pub series: Option<SeriesTable>,
}

/// `[series]`: a scheduled job's content photos, chosen at each fire from
/// the owner's files (docs/schedules.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesTable {
    /// A path under the owner's files, e.g. `photos/{date}/`.
    pub inputs: String,
    /// Only the newest N files; 0 = all (gallery), the newest (single).
    #[serde(default)]
    pub newest: u32,
}

impl JobFile {
    /// Reads `path`; `None` gives the empty file.
    pub fn read(path: Option<&Path>) -> anyhow::Result<JobFile> {
        let Some(path) = path else {
            return Ok(JobFile::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read job file {}", path.display()))?;
        Self::parse(path, &text)
    }

    /// Parses `text` as the job file at `path` (whose folder relative paths
    /// are relative to).
    pub fn parse(path: &Path, text: &str) -> anyhow::Result<JobFile> {
        let mut file: JobFile =
            toml::from_str(text).with_context(|| format!("invalid job file {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new(""));
        let rel = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        file.content = file.content.as_deref().map(rel);
        file.contents = file.contents.iter().map(|p| rel(p)).collect();
        file.content_mask = file.content_mask.as_deref().map(rel);
        file.video = file.video.as_deref().map(rel);
        file.style_masks = file.style_masks.iter().map(|p| rel(p)).collect();
        for s in &mut file.styles {
            let (p, weight) = super::inputs::parse_style(s)
                .with_context(|| format!("invalid job file {}: styles", path.display()))?;
            *s = format!("{}:{weight}", rel(&p).display());
        }
        if let Some(init) = &file.render.init
            && init_name(init).is_none()
        {
            file.render.init = Some(rel(Path::new(init)).display().to_string());
        }
        if let Some(anim) = &file.render.animation {
            file.render.animation = Some(rel(anim));
        }
        Ok(file)
    }
}
