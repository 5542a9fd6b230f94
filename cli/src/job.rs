//! What to submit: the job kind and its pictures, from flags or a TOML job
//! file (`--job FILE`, described in docs/jobs.md), merged: flags < nothing,
//! file < flags, and the file's `[render]` table < flags but > the config.
//! Folders given as gallery contents or styles stand for the pictures in
//! them (sorted by name).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::args::{EngineFlags, JobFlags};
use crate::config::RenderDefaults;
use crate::engine_flags::{self, ResolvedEngine, parse_style};
use stylefarm_proto::kinds::default_overlap;

/// The job kinds the CLI knows.
pub const KINDS: &[&str] = &["single", "grid", "gallery", "texture", "highres"];

/// Extensions taken from a folder.
const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff", "gif"];

/// A resolved job, ready to upload and submit.
#[derive(Debug, Clone)]
pub struct JobRequest {
    pub kind: String,
    pub name: Option<String>,
    pub priority: Option<i32>,
    pub content: Option<PathBuf>,
    pub contents: Vec<PathBuf>,
    pub steps: u32,
    pub axis: String,
    /// Highres: tile side and overlap in pixels (0 otherwise).
    pub tile: u32,
    pub overlap: u32,
    pub engine: ResolvedEngine,
}

/// A TOML job file.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct JobFile {
    kind: Option<String>,
    name: Option<String>,
    priority: Option<i32>,
    content: Option<String>,
    contents: Vec<String>,
    styles: Vec<String>,
    steps: Option<u32>,
    axis: Option<String>,
    overlap: Option<u32>,
    render: JobRender,
}

/// The file's `[render]` table: the config's render keys and the flags
/// that have no config key.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct JobRender {
    #[serde(flatten)]
    defaults: RenderDefaults,
    scales: Option<String>,
    multiscale: Option<bool>,
    texture: Option<String>,
    tileable: Option<bool>,
    tile: Option<usize>,
    max_memory: Option<toml::Value>,
    normalize_gradients: Option<bool>,
}

pub fn resolve(
    job: &JobFlags,
    flags: &EngineFlags,
    config: &RenderDefaults,
) -> anyhow::Result<JobRequest> {
    let (file, base) = match &job.job {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read job file {}", path.display()))?;
            let file: JobFile = toml::from_str(&text)
                .with_context(|| format!("invalid job file {}", path.display()))?;
            let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
            (file, base)
        }
        None => (JobFile::default(), PathBuf::new()),
    };
    let rel = |p: &str| -> PathBuf {
        let p = PathBuf::from(p);
        if p.is_absolute() { p } else { base.join(p) }
    };

    let (kind_arg, content_arg) = match job.inputs.as_slice() {
        [] => (None, None),
        [one] if KINDS.contains(&one.as_str()) => (Some(one.clone()), None),
        [one] => (None, Some(PathBuf::from(one))),
        [kind, content] if KINDS.contains(&kind.as_str()) => {
            (Some(kind.clone()), Some(PathBuf::from(content)))
        }
        [kind, _] => bail!(
            "unknown job kind '{kind}': use one of {} (or give only the content photo)",
            KINDS.join(", ")
        ),
        _ => bail!("give at most a job kind and one content photo"),
    };
    let kind = kind_arg
        .or(file.kind.clone())
        .unwrap_or_else(|| "single".into());
    if !KINDS.contains(&kind.as_str()) {
        bail!("unknown job kind '{kind}': use one of {}", KINDS.join(", "));
    }
    let content = content_arg.or(file.content.as_deref().map(rel));

    // Engine flags: the file's, with the command line's on top.
    let r = &file.render;
    let mut merged = flags.clone();
    if merged.styles.is_empty() {
        for s in &file.styles {
            let (path, weight) = parse_style(s)?;
            merged.styles.push(format!(
                "{}:{weight}",
                rel(&path.to_string_lossy()).display()
            ));
        }
    }
    merged.scales = merged.scales.or(r.scales.clone());
    merged.multiscale |= r.multiscale.unwrap_or(false) && merged.scales.is_none();
    merged.texture = merged.texture.or(r.texture.clone());
    merged.tileable |= r.tileable.unwrap_or(false);
    merged.tile = merged.tile.or(r.tile);
    merged.normalize_gradients |= r.normalize_gradients.unwrap_or(false);
    if merged.max_memory.is_none() {
        merged.max_memory = match &r.max_memory {
            None => None,
            Some(toml::Value::Integer(n)) => Some(n.to_string()),
            Some(toml::Value::String(s)) => Some(s.clone()),
            Some(other) => {
                bail!("render.max_memory = {other}: use bytes or a string like \"2GiB\"")
            }
        };
    }
    if kind == "gallery" || kind == "grid" {
        // A folder of styles stands for each picture in it, weight 1.
        let mut styles = Vec::new();
        for s in &merged.styles {
            let (path, weight) = parse_style(s)?;
            if path.is_dir() {
                styles.extend(
                    pictures_in(&path)?
                        .iter()
                        .map(|p| format!("{}:1", p.display())),
                );
            } else {
                styles.push(format!("{}:{weight}", path.display()));
            }
        }
        merged.styles = styles;
    }
    let defaults = r.defaults.over(config);
    let mut engine = engine_flags::resolve(&merged, &defaults)?;
    // Highres and textures: --tile is the farm's tile (tasks across
    // workers), not the engine's single-machine tiling.
    let farm_tile = match kind.as_str() {
        "highres" => Some(engine.settings.tile.take().unwrap_or(1024) as u32),
        "texture" => engine.settings.tile.take().map(|t| t as u32),
        _ => None,
    };
    let (tile, overlap) = match farm_tile {
        Some(tile) => {
            let overlap = job
                .overlap
                .or(file.overlap)
                .unwrap_or(default_overlap(tile));
            (tile, overlap)
        }
        None => (0, 0),
    };

    let listed: Vec<PathBuf> = if job.contents.is_empty() {
        file.contents.iter().map(|c| rel(c)).collect()
    } else {
        job.contents.clone()
    };
    let mut contents = Vec::new();
    for c in listed {
        if c.is_dir() {
            contents.extend(pictures_in(&c)?);
        } else {
            contents.push(c);
        }
    }
    let steps = job.steps.or(file.steps).unwrap_or(5);
    let axis = job
        .axis
        .clone()
        .or(file.axis.clone())
        .unwrap_or_else(|| "styles".into());
    match kind.as_str() {
        "gallery" if contents.is_empty() => {
            bail!("a gallery needs content photos: --content PATH (a file or folder; repeat)")
        }
        "gallery" if content.is_some() => {
            bail!("a gallery takes its photos with --content PATH, not as the positional CONTENT")
        }
        "grid" if content.is_none() => {
            bail!("a grid needs a content photo: stylefarm … grid CONTENT --style A --style B")
        }
        "texture" if engine.settings.texture.is_none() => {
            bail!("a texture job needs its size: --texture WIDTHxHEIGHT")
        }
        "texture" if content.is_some() => bail!("a texture job has no content photo"),
        "highres" if content.is_none() => {
            bail!(
                "a highres job needs a content photo: stylefarm … highres CONTENT --style S --size 8192"
            )
        }
        "single" | "grid" | "texture" | "highres" if !contents.is_empty() => {
            bail!("--content is for gallery jobs; give the content photo as CONTENT")
        }
        _ => {}
    }
    Ok(JobRequest {
        kind,
        name: file.name,
        priority: file.priority,
        content,
        contents,
        steps,
        axis,
        tile,
        overlap,
        engine,
    })
}

/// The pictures in `dir`, sorted by name.
fn pictures_in(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension().is_some_and(|e| {
                    IMAGE_EXTENSIONS.contains(&e.to_string_lossy().to_ascii_lowercase().as_str())
                })
        })
        .collect();
    out.sort();
    if out.is_empty() {
        bail!(
            "{} holds no pictures ({})",
            dir.display(),
            IMAGE_EXTENSIONS.join(", ")
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_and_content_from_positionals_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("job.toml");
        std::fs::write(
            &file,
            "kind = \"grid\"\ncontent = \"c.png\"\nstyles = [\"a.png\", \"b.png:0.5\"]\nsteps = 3\n[render]\nsize = 64\ntile = 32\nmax_memory = \"1GiB\"\n",
        )
        .unwrap();
        let job = JobFlags {
            job: Some(file),
            ..Default::default()
        };
        let r = resolve(&job, &EngineFlags::default(), &RenderDefaults::default()).unwrap();
        assert_eq!(r.kind, "grid");
        assert_eq!(r.content, Some(dir.path().join("c.png")));
        assert_eq!(r.steps, 3);
        assert_eq!(r.engine.settings.size, 64);
        assert_eq!(r.engine.settings.tile, Some(32));
        assert_eq!(r.engine.settings.max_memory, Some(1 << 30));
        assert_eq!(r.engine.styles[1], (dir.path().join("b.png"), 0.5));
        // Flags win over the file.
        let flags = EngineFlags {
            size: Some(48),
            ..Default::default()
        };
        let r = resolve(&job, &flags, &RenderDefaults::default()).unwrap();
        assert_eq!(r.engine.settings.size, 48);

        let single = JobFlags {
            inputs: vec!["photo.jpg".into()],
            ..Default::default()
        };
        let r = resolve(&single, &EngineFlags::default(), &RenderDefaults::default()).unwrap();
        assert_eq!(
            (r.kind.as_str(), r.content),
            ("single", Some("photo.jpg".into()))
        );
        let bad = JobFlags {
            inputs: vec!["grdi".into(), "photo.jpg".into()],
            ..Default::default()
        };
        let e = resolve(&bad, &EngineFlags::default(), &RenderDefaults::default()).unwrap_err();
        assert!(e.to_string().contains("unknown job kind"), "{e}");
    }
}
