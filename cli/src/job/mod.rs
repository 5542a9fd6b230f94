//! What to submit: a job of local files from flags or a TOML job file,
//! merged (flags over the file, the file's `[render]` over the config's).
//!
//! Layout: this file (the steps in order); `file` (the job file); `inputs`
//! (positionals, styles, folders); `masks` (region maps: semantic style
//! transfer and doodles); `shape` (each kind's shape in flag terms); `fuzz`
//! (job files fuzzed, tests only).

pub(crate) mod file;
#[cfg(test)]
mod fuzz;
pub(crate) mod inputs;
mod masks;
mod shape;

use std::path::PathBuf;

use stylefarm_client::{LocalJob, label};
use stylefarm_spec::{Grid, JobKind, JobSpec, Picture, SeriesInputs, StyleInput, VideoJob};

use crate::args::{JobFlags, VideoFlags};
use crate::settings::RenderLayer;

pub use shape::default_name;

/// A job ready to submit, and where its animation goes (if asked for).
#[derive(Debug, Clone)]
pub struct Resolved {
    pub job: LocalJob,
    pub animation: Option<PathBuf>,
}

/// Resolves the flags and the job file over `config` (the config's render
/// layer) into a job of local files.
pub fn resolve(
    flags: &JobFlags,
    render_flags: &RenderLayer,
    config: &RenderLayer,
) -> anyhow::Result<Resolved> {
    let file = file::JobFile::read(flags.job.as_deref())?;
    if file.series.is_some() {
        anyhow::bail!(
            "[series] in a job file is for schedules, whose fires choose the photos: \
             stylefarm schedule add NAME --cron \"…\" --job FILE (docs/schedules.md)"
        );
    }
    resolve_file(file, flags, render_flags, config)
}

/// [`resolve`] with the job file already read (`flags.job` is not read again).
pub fn resolve_file(
    file: file::JobFile,
    flags: &JobFlags,
    render_flags: &RenderLayer,
    config: &RenderLayer,
) -> anyhow::Result<Resolved> {
    let (kind_arg, content_arg) = inputs::positionals(&flags.inputs)?;
    let kind = kind_arg.or(file.kind).unwrap_or(JobKind::Single);
    let mut content = content_arg.or(file.content.clone());
    // A video job's positional is its video.
    let video = if kind == JobKind::Video {
        content.take().or(file.video.clone())
    } else {
        None
    };
    let layer = config
        .clone()
        .merge(file.render.clone())
        .merge(render_flags.clone());
    let (mut settings, init_image) = layer.resolve()?;
    let given_styles = if flags.styles.is_empty() {
        &file.styles
    } else {
        &flags.styles
    };
    let styles = inputs::styles(
        given_styles,
        matches!(kind, JobKind::Grid | JobKind::Gallery),
    )?;
    let listed = if flags.contents.is_empty() {
        &file.contents
    } else {
        &flags.contents
    };
    let contents = inputs::expand_folders(listed)?;
    let (content_mask, style_masks) = masks::resolve(flags, &file, kind, styles.len())?;
    let series = file.series.as_ref().map(|s| SeriesInputs {
        prefix: s.inputs.clone(),
        newest: s.newest,
    });
    // A series template's photos come at each fire (checked by
    // `SeriesInputs::check` instead).
    if series.is_none() {
        shape::check(kind, content.is_some(), !contents.is_empty(), &settings)?;
    }
    shape::check_video(kind, video.as_deref(), content_mask.is_some())?;
    let tiles = shape::farm_tiles(kind, &mut settings, flags.overlap.or(file.overlap));

    let mut spec = JobSpec::new(kind);
    spec.priority = file.priority.unwrap_or(0);
    spec.content = content.as_deref().map(|p| Picture {
        key: String::new(),
        name: label(p),
        size: None,
    });
    spec.contents = contents
        .iter()
        .map(|p| Picture {
            key: String::new(),
            name: label(p),
            size: None,
        })
        .collect();
    spec.styles = styles
        .iter()
        .map(|(p, weight)| StyleInput {
            key: String::new(),
            weight: *weight,
            name: label(p),
            mask: None,
        })
        .collect();
    spec.settings = settings;
    spec.grid = Grid {
        steps: flags.steps.or(file.steps).unwrap_or(5),
        axis: flags.axis.or(file.axis).unwrap_or_default(),
    };
    spec.tiles = tiles;
    spec.batch = flags.batch.or(file.batch);
    spec.content_mask = content_mask.as_deref().map(|p| Picture {
        key: String::new(),
        name: label(p),
        size: None,
    });
    spec.video = video.as_deref().map(|p| video_job(p, &flags.video, &file));
    let mut job = LocalJob {
        spec,
        content,
        contents,
        styles: styles.into_iter().map(|(p, _)| p).collect(),
        init_image,
        content_mask,
        style_masks,
        video,
        series,
    };
    job.spec.name = file.name.unwrap_or_else(|| default_name(&job));
    Ok(Resolved {
        job,
        animation: layer.animation,
    })
}

/// A video job's controls: flags over the job file over artistic-videos'
/// defaults. The source's frames, size and rate are filled in by probing
/// it when the job is submitted.
fn video_job(path: &std::path::Path, flags: &VideoFlags, file: &file::JobFile) -> VideoJob {
    let d = VideoJob::default();
    VideoJob {
        name: label(path),
        fps: flags.fps.or(file.fps),
        start: flags.start.or(file.start),
        duration: flags.duration.or(file.duration),
        keyframe_every: flags
            .keyframe_every
            .or(file.keyframe_every)
            .unwrap_or(d.keyframe_every),
        temporal_weight: flags
            .temporal_weight
            .or(file.temporal_weight)
            .unwrap_or(d.temporal_weight),
        frame_iterations: flags.frame_iterations.or(file.frame_iterations),
        formats: if flags.video_formats.is_empty() {
            file.video_formats.clone()
        } else {
            flags.video_formats.clone()
        },
        ..d
    }
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
            "kind = \"grid\"\ncontent = \"c.png\"\nstyles = [\"a.png\", \"b.png:0.5\"]\nsteps = 3\n[render]\nsize = 64\ntile = 32\nmax_memory = \"1GiB\"\nprecision = \"tf32\"\n",
        )
        .unwrap();
        let job = JobFlags {
            job: Some(file),
            ..Default::default()
        };
        let none = RenderLayer::default();
        let r = resolve(&job, &none, &none).unwrap().job;
        assert_eq!(r.spec.kind, JobKind::Grid);
        assert_eq!(r.content, Some(dir.path().join("c.png")));
        assert_eq!(r.spec.grid.steps, 3);
        assert_eq!(r.spec.settings.size, 64);
        assert_eq!(r.spec.settings.tile, Some(32));
        assert_eq!(r.spec.settings.max_memory, Some(1 << 30));
        assert_eq!(
            r.spec.settings.precision,
            Some(stylefarm_spec::Precision::Tf32)
        );
        assert_eq!(r.styles[1], dir.path().join("b.png"));
        assert_eq!(r.spec.styles[1].weight, 0.5);
        // Flags win over the file, the file over the config.
        let flags = RenderLayer {
            size: Some(48),
            ..Default::default()
        };
        let config = RenderLayer {
            size: Some(99),
            iterations: Some(9),
            ..Default::default()
        };
        let r = resolve(&job, &flags, &config).unwrap().job;
        assert_eq!((r.spec.settings.size, r.spec.settings.iterations), (48, 9));

        let single = JobFlags {
            inputs: vec!["photo.jpg".into()],
            ..Default::default()
        };
        let r = resolve(&single, &none, &none).unwrap().job;
        assert_eq!(
            (r.spec.kind, r.content),
            (JobKind::Single, Some("photo.jpg".into()))
        );
        let bad = JobFlags {
            inputs: vec!["grdi".into(), "photo.jpg".into()],
            ..Default::default()
        };
        let e = resolve(&bad, &none, &none).unwrap_err();
        assert!(e.to_string().contains("unknown job kind"), "{e}");
    }

    #[test]
    fn the_example_series_job_file_is_a_template_and_not_a_job() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/jobs/series.toml");
        let flags = JobFlags {
            job: Some(path.clone()),
            ..Default::default()
        };
        let none = RenderLayer::default();
        let file = file::JobFile::read(Some(&path)).unwrap();
        let r = resolve_file(file, &flags, &none, &none).unwrap().job;
        assert_eq!(
            r.series,
            Some(SeriesInputs {
                prefix: "photos/{date}/".into(),
                newest: 4
            })
        );
        assert!(r.contents.is_empty() && r.content.is_none());
        r.check().expect("valid with a stand-in photo");
        let e = resolve(&flags, &none, &none).unwrap_err();
        assert!(
            e.to_string()
                .contains("[series] in a job file is for schedules"),
            "{e}"
        );
    }

    #[test]
    fn the_example_video_job_file_resolves_with_flags_over_it() {
        let file =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/jobs/video.toml");
        let flags = JobFlags {
            job: Some(file),
            video: VideoFlags {
                keyframe_every: Some(4),
                ..Default::default()
            },
            ..Default::default()
        };
        let none = RenderLayer::default();
        let r = resolve(&flags, &none, &none).unwrap().job;
        assert_eq!(r.spec.kind, JobKind::Video);
        assert!(r.video.as_ref().unwrap().ends_with("video/pan.mp4"));
        assert_eq!(r.content, None);
        let v = r.spec.video.as_ref().unwrap();
        assert_eq!((v.keyframe_every, v.frame_iterations), (4, Some(50)));
        assert_eq!(v.formats, vec![stylefarm_spec::VideoFormat::Gif]);
        assert_eq!(v.name, "pan");
        assert_eq!(r.spec.settings.size, 256);
        r.check().expect("valid before probing");
        // A video job without its video says what to give.
        let bare = JobFlags {
            inputs: vec!["video".into()],
            styles: vec!["a.png".into()],
            ..Default::default()
        };
        let e = resolve(&bare, &none, &none).unwrap_err();
        assert!(e.to_string().contains("needs its video"), "{e}");
    }
}
