//! Valid messages of every kind, the starting points of the properties.

use super::*;

pub(crate) fn picture(key: &str, size: Option<(u32, u32)>) -> Picture {
    Picture {
        key: key.into(),
        name: "photo".into(),
        size,
    }
}

pub(crate) fn style(key: &str, mask: Option<&str>) -> StyleInput {
    StyleInput {
        key: key.into(),
        weight: 1.0,
        name: "painting".into(),
        mask: mask.map(Into::into),
    }
}

/// A valid job of every kind (and the guided variants), as a client sends it.
pub(crate) fn seeds() -> Vec<pb::JobSpec> {
    let base = |kind| {
        let mut s = JobSpec::new(kind);
        s.name = "fuzz".into();
        s.styles = vec![style("inputs/s1.png", None)];
        s.settings.size = 64;
        s
    };
    let mut single = base(JobKind::Single);
    single.content = Some(picture("inputs/c.png", Some((64, 48))));

    let mut grid = single.clone();
    grid.kind = JobKind::Grid;
    grid.styles.push(style("inputs/s2.png", None));
    grid.grid.steps = 3;

    let mut gallery = base(JobKind::Gallery);
    gallery.contents = vec![
        picture("inputs/c1.png", None),
        picture("inputs/c2.jpg", None),
    ];

    let mut texture = base(JobKind::Texture);
    texture.settings.texture = Some((64, 48));
    texture.tiles = Some(FarmTiles {
        tile: 32,
        overlap: 8,
    });

    let mut highres = single.clone();
    highres.kind = JobKind::Highres;
    highres.tiles = Some(FarmTiles {
        tile: 32,
        overlap: 8,
    });

    let mut video = base(JobKind::Video);
    video.video = Some(VideoJob {
        key: "inputs/v.mp4".into(),
        name: "clip".into(),
        frames: 25,
        frame_size: (64, 48),
        rate: 10.0,
        fps: Some(10.0),
        ..VideoJob::default()
    });

    let mut semantic = single.clone();
    semantic.content_mask = Some(picture("inputs/cm.png", Some((32, 24))));
    semantic.styles = vec![style("inputs/s1.png", Some("inputs/sm.png"))];

    let mut doodle = semantic.clone();
    doodle.content = None;

    [
        single, grid, gallery, texture, highres, video, semantic, doodle,
    ]
    .iter()
    .map(pb::JobSpec::from)
    .collect()
}

/// A stylize task and a video task as the coordinator leases them.
pub(crate) fn task_seeds() -> Vec<pb::Task> {
    let specs = seeds();
    let settings = specs[0].settings.clone();
    let stylize = pb::TaskParams {
        kind: Some(pb::task_params::Kind::Stylize(pb::StylizeParams {
            content_key: "inputs/c.png".into(),
            content_width: 64,
            content_height: 48,
            styles: specs[0].styles.clone(),
            settings: settings.clone(),
            output_name: "out.png".into(),
            tile: Some(pb::TileCrop {
                full_width: 64,
                full_height: 48,
                x: 0,
                y: 0,
                width: 32,
                height: 32,
            }),
            ..Default::default()
        })),
    };
    let video = pb::TaskParams {
        kind: Some(pb::task_params::Kind::Video(pb::VideoParams {
            step: "segment".into(),
            segment: 1,
            video: specs[5].video.clone(),
            styles: specs[5].styles.clone(),
            settings,
            frames_prefix: "jobs/j/t1/".into(),
            flow_prefixes: vec!["jobs/j/t2/".into()],
            keyframes_prefix: "jobs/j/t3/".into(),
            segment_prefixes: vec![],
        })),
    };
    [stylize, video]
        .into_iter()
        .map(|params| pb::Task {
            task_id: "t".into(),
            job_id: "j".into(),
            attempt: 1,
            output_prefix: "jobs/j/t/".into(),
            deadline_unix_ms: 1,
            params: Some(params),
        })
        .collect()
}
