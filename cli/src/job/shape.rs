//! Each kind's shape in the terms of the flags: what a job of that kind
//! needs and refuses, checked before anything is read or uploaded (the farm
//! checks the whole spec again, in the wire's terms).

use std::path::Path;

use anyhow::bail;
use stylefarm_client::{LocalJob, label};
use stylefarm_spec::geometry::default_overlap;
use stylefarm_spec::{FarmTiles, JobKind, RenderSettings};

/// A highres job's tile when none is given, pixels.
const DEFAULT_HIGHRES_TILE: u32 = 1024;

/// Refuses a combination of kind and pictures the kind cannot use.
pub fn check(
    kind: JobKind,
    has_content: bool,
    has_contents: bool,
    settings: &RenderSettings,
) -> anyhow::Result<()> {
    match kind {
        JobKind::Gallery if !has_contents => {
            bail!("a gallery needs content photos: --content PATH (a file or folder; repeat)")
        }
        JobKind::Gallery if has_content => {
            bail!("a gallery takes its photos with --content PATH, not as the positional CONTENT")
        }
        JobKind::Grid if !has_content => {
            bail!("a grid needs a content photo: stylefarm … grid CONTENT --style A --style B")
        }
        JobKind::Texture if settings.texture.is_none() => {
            bail!("a texture job needs its size: --texture WIDTHxHEIGHT")
        }
        JobKind::Texture if has_content => bail!("a texture job has no content photo"),
        JobKind::Highres if !has_content => bail!(
            "a highres job needs a content photo: stylefarm … highres CONTENT --style S --size 8192"
        ),
        JobKind::Video if has_contents => {
            bail!("a video job takes its frames from the video: stylefarm … video IN.mp4 --style S")
        }
        JobKind::Single | JobKind::Grid | JobKind::Texture | JobKind::Highres if has_contents => {
            bail!("--content is for gallery jobs; give the content photo as CONTENT")
        }
        _ => Ok(()),
    }
}

/// A video job needs its video, and only a video job takes one.
pub fn check_video(kind: JobKind, video: Option<&Path>, has_mask: bool) -> anyhow::Result<()> {
    match (kind, video) {
        (JobKind::Video, None) => {
            bail!("a video job needs its video: stylefarm … video IN.mp4 --style S -o OUT.mp4")
        }
        (JobKind::Video, Some(p)) if !p.is_file() => bail!(
            "cannot read video {}: no such file (give the path of a video file)",
            p.display()
        ),
        (JobKind::Video, Some(_)) if has_mask => {
            bail!("region maps work on pictures, not videos: drop --content-mask/--style-mask")
        }
        _ => Ok(()),
    }
}

/// Highres and textures: `--tile` is the farm's tile (tasks across
/// workers), not the engine's single-machine tiling, so it moves out of the
/// render settings. The overlap defaults to a quarter tile, at most 128 px.
pub fn farm_tiles(
    kind: JobKind,
    settings: &mut RenderSettings,
    overlap: Option<u32>,
) -> Option<FarmTiles> {
    let tile = match kind {
        JobKind::Highres => Some(settings.tile.take().unwrap_or(DEFAULT_HIGHRES_TILE)),
        JobKind::Texture => settings.tile.take(),
        _ => None,
    }?;
    Some(FarmTiles {
        tile,
        overlap: overlap.unwrap_or(default_overlap(tile)),
    })
}

/// A job's name in listings when none is given: its pictures' names.
pub fn default_name(job: &LocalJob) -> String {
    let styles: Vec<String> = job.styles.iter().map(|p| label(p)).collect();
    match (job.spec.kind, job.content.as_deref()) {
        (JobKind::Video, _) => {
            let video = job.video.as_deref().map(label).unwrap_or_default();
            format!("video {video} × {}", styles.join("+"))
        }
        (JobKind::Gallery, _) => format!("gallery × {}", styles.join(", ")),
        (JobKind::Grid, Some(c)) => format!("grid {} × {}", label(c), styles.join("/")),
        (_, Some(c)) => format!("{} × {}", label(Path::new(c)), styles.join("+")),
        (_, None) if job.content_mask.is_some() => {
            let doodle = job.content_mask.as_deref().map(label).unwrap_or_default();
            format!("doodle {doodle} × {}", styles.join("+"))
        }
        (_, None) => format!("texture × {}", styles.join("+")),
    }
}
