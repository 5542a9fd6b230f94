//! Round trips: every domain value survives domain → wire → domain.

use stylefarm_spec::task::{
    AssembleTask, BatchTask, CachedTarget, Mosaic, PlacedTile, SharedTargets, Sheet, SheetCell,
    StylizeTask, TargetsTask, TileCrop,
};
use stylefarm_spec::{
    FarmTiles, Grid, GridAxis, Init, JobKind, JobSpec, LayerWeight, Optimizer, OriginalColors,
    Picture, Pooling, Precision, RenderSettings, Scales, StyleInput, TaskPlan,
};

use super::LeasedTask;
use crate::pb;

fn style(key: &str, weight: f64) -> StyleInput {
    StyleInput {
        key: key.into(),
        weight,
        name: format!("label of {key}"),
        mask: None,
    }
}

/// `style` with its region map.
fn masked(key: &str, weight: f64, mask: &str) -> StyleInput {
    StyleInput {
        mask: Some(mask.into()),
        ..style(key, weight)
    }
}

/// Settings with every field off its default.
fn unusual_settings() -> RenderSettings {
    RenderSettings {
        size: 320,
        iterations: 40,
        seed: 7,
        optimizer: Optimizer::Adam,
        learning_rate: 2.5,
        lbfgs_history: 12,
        content_weight: 1.5,
        style_weight: 250.0,
        tv_weight: 0.0,
        content_layers: vec![LayerWeight {
            layer: "relu3_1".into(),
            weight: 0.5,
        }],
        style_layers: vec![LayerWeight::new("relu1_1"), LayerWeight::new("pool2")],
        init: Init::Image,
        init_key: Some("inputs/init.png".into()),
        pooling: Pooling::Avg,
        style_scale: 0.75,
        original_colors: OriginalColors::Luminance,
        scales: Scales::Explicit(vec![160, 320]),
        save_every: 10,
        animation: true,
        texture: None,
        normalize_gradients: true,
        model: "vgg19-caffe.v1".into(),
        tileable: true,
        tile: Some(64),
        max_memory: Some(1 << 30),
        precision: Some(Precision::Bf16),
        tol_loss_relative: Some(0.01),
        tol_window: 20,
    }
}

#[track_caller]
fn round_trip(spec: &JobSpec) {
    spec.validate().expect("the example is valid");
    let wire = pb::JobSpec::from(spec);
    assert_eq!(&JobSpec::try_from(&wire).expect("converts back"), spec);
}

#[test]
fn jobs_of_every_kind_round_trip() {
    let content = Picture {
        key: "inputs/c.png".into(),
        name: "photo".into(),
        size: Some((640, 480)),
    };
    let mut single = JobSpec::new(JobKind::Single);
    single.name = "a job".into();
    single.priority = -3;
    single.content = Some(content.clone());
    single.styles = vec![style("inputs/a.png", 0.25), style("inputs/b.png", 0.75)];
    single.settings = unusual_settings();
    round_trip(&single);

    let mut grid = JobSpec::new(JobKind::Grid);
    grid.content = Some(content.clone());
    grid.styles = vec![style("inputs/a.png", 1.0)];
    grid.grid = Grid {
        steps: 4,
        axis: GridAxis::Weights,
    };
    grid.settings.scales = Scales::Auto;
    grid.batch = Some(4);
    round_trip(&grid);

    let mut gallery = JobSpec::new(JobKind::Gallery);
    gallery.contents = vec![
        // Its size as the client read it: the planner batches by it.
        content.clone(),
        Picture {
            key: "inputs/d.jpg".into(),
            name: String::new(),
            size: None,
        },
    ];
    gallery.styles = vec![style("inputs/a.png", 1.0), style("inputs/b.png", 2.0)];
    round_trip(&gallery);

    let mut texture = JobSpec::new(JobKind::Texture);
    texture.styles = vec![style("inputs/a.png", 1.0)];
    texture.settings.texture = Some((256, 128));
    texture.settings.content_layers.clear();
    texture.tiles = Some(FarmTiles {
        tile: 64,
        overlap: 16,
    });
    round_trip(&texture);

    let mut highres = JobSpec::new(JobKind::Highres);
    highres.content = Some(content);
    highres.styles = vec![style("inputs/a.png", 1.0)];
    highres.settings.size = 2048;
    highres.tiles = Some(FarmTiles {
        tile: 512,
        overlap: 64,
    });
    round_trip(&highres);
}

#[test]
fn semantic_and_doodle_jobs_round_trip() {
    let mask = Picture {
        key: "inputs/m.png".into(),
        name: "regions".into(),
        size: Some((320, 240)),
    };
    let mut semantic = JobSpec::new(JobKind::Single);
    semantic.content = Some(Picture {
        key: "inputs/c.png".into(),
        name: "photo".into(),
        size: Some((640, 480)),
    });
    semantic.content_mask = Some(mask.clone());
    semantic.styles = vec![
        masked("inputs/a.png", 0.25, "inputs/am.png"),
        masked("inputs/b.png", 0.75, "inputs/bm.png"),
    ];
    round_trip(&semantic);
    let wire = pb::JobSpec::from(&semantic);
    assert_eq!(wire.content_mask_key, "inputs/m.png");
    assert_eq!(wire.styles[1].mask_key, "inputs/bm.png");

    let mut doodle = JobSpec::new(JobKind::Single);
    doodle.content_mask = Some(mask);
    doodle.styles = vec![masked("inputs/a.png", 1.0, "inputs/am.png")];
    round_trip(&doodle);
    doodle.size_doodle();
    round_trip(&doodle);
}

#[track_caller]
fn plan_round_trip(plan: TaskPlan) {
    let task = pb::Task {
        task_id: "t".into(),
        job_id: "j".into(),
        attempt: 2,
        output_prefix: "jobs/j/t/".into(),
        deadline_unix_ms: 1,
        params: Some(pb::TaskParams::from(&plan)),
    };
    let leased = LeasedTask::try_from(&task).expect("converts back");
    assert_eq!(leased.plan, plan);
    assert_eq!(
        (leased.attempt, leased.output_prefix.as_str()),
        (2, "jobs/j/t/")
    );
}

#[test]
fn task_plans_of_every_kind_round_trip() {
    plan_round_trip(TaskPlan::Targets(TargetsTask {
        style_key: "inputs/a.png".into(),
        targets: vec![
            CachedTarget {
                side: 128,
                key: "cache/targets/x.safetensors".into(),
            },
            CachedTarget {
                side: 256,
                key: "cache/targets/y.safetensors".into(),
            },
        ],
        style_layers: vec![LayerWeight::new("relu1_1")],
        pooling: Pooling::Avg,
        model: "m".into(),
        mask_key: None,
    }));
    plan_round_trip(TaskPlan::Targets(TargetsTask {
        style_key: "inputs/a.png".into(),
        targets: vec![CachedTarget {
            side: 64,
            key: "cache/targets/z.safetensors".into(),
        }],
        style_layers: vec![LayerWeight::new("relu1_1")],
        pooling: Pooling::Max,
        model: String::new(),
        mask_key: Some("inputs/am.png".into()),
    }));
    plan_round_trip(TaskPlan::Stylize(StylizeTask {
        content_key: Some("inputs/c.png".into()),
        content_size: Some((640, 480)),
        styles: vec![style("inputs/a.png", 0.5)],
        settings: unusual_settings(),
        output_name: "r0-c1.png".into(),
        targets: Some(SharedTargets {
            keys: vec!["cache/targets/x.safetensors".into()],
            sides: vec![320],
        }),
        previous_scale: Some("jobs/j/u/scale-0.png".into()),
        tile: Some(TileCrop {
            full: (640, 480),
            at: (96, 0),
            size: (256, 256),
        }),
        content_mask: Some("inputs/m.png".into()),
    }));
    plan_round_trip(TaskPlan::Stylize(StylizeTask {
        content_key: None,
        content_size: None,
        styles: vec![style("inputs/a.png", 1.0)],
        settings: RenderSettings::default(),
        output_name: "result.png".into(),
        targets: None,
        previous_scale: None,
        tile: None,
        content_mask: None,
    }));
    let cell = |name: &str, style_weight| StylizeTask {
        content_key: Some("inputs/c.png".into()),
        content_size: Some((640, 480)),
        styles: vec![style("inputs/a.png", 1.0)],
        settings: RenderSettings {
            style_weight,
            ..unusual_settings()
        },
        output_name: name.into(),
        targets: None,
        previous_scale: None,
        tile: None,
        content_mask: None,
    };
    plan_round_trip(TaskPlan::Batch(BatchTask {
        pictures: vec![cell("r0-c0.png", 10.0), cell("r0-c1.png", 100.0)],
    }));
    let sheet = Sheet {
        cells: vec![SheetCell {
            key: "jobs/j/a/r0-c0.png".into(),
            row: 0,
            col: 0,
            caption: "weights 1.00/0.00".into(),
        }],
        rows: 1,
        cols: 1,
        row_labels: vec![String::new()],
        col_labels: vec!["0.00".into()],
    };
    plan_round_trip(TaskPlan::Assemble(AssembleTask::Sheet(sheet.clone())));
    plan_round_trip(TaskPlan::Assemble(AssembleTask::Gallery(sheet)));
    plan_round_trip(TaskPlan::Assemble(AssembleTask::Tiles(Mosaic {
        tiles: vec![PlacedTile {
            key: "jobs/j/b/tile.png".into(),
            x: 96,
            y: 0,
        }],
        full: (640, 480),
        overlap: 32,
        output_name: "result.png".into(),
    })));
}

#[test]
fn tasks_without_params_or_with_bad_names_are_refused() {
    let mut task = pb::Task::default();
    let e = LeasedTask::try_from(&task).unwrap_err();
    assert_eq!(e.field, "params");
    task.params = Some(pb::TaskParams { kind: None });
    assert_eq!(
        LeasedTask::try_from(&task).unwrap_err().field,
        "params.kind"
    );
    let mut stylize = match pb::TaskParams::from(&TaskPlan::Stylize(StylizeTask {
        content_key: None,
        content_size: None,
        styles: Vec::new(),
        settings: RenderSettings::default(),
        output_name: "result.png".into(),
        targets: None,
        previous_scale: None,
        tile: None,
        content_mask: None,
    }))
    .kind
    {
        Some(pb::task_params::Kind::Stylize(s)) => s,
        other => panic!("{other:?}"),
    };
    stylize.output_name = "../x.png".into();
    let params = pb::TaskParams {
        kind: Some(pb::task_params::Kind::Stylize(stylize)),
    };
    let e = TaskPlan::try_from(&params).unwrap_err();
    assert_eq!(e.field, "params.stylize.output_name", "{e}");
}

fn unusual_video() -> stylefarm_spec::VideoJob {
    stylefarm_spec::VideoJob {
        key: "inputs/v.mp4".into(),
        name: "clip".into(),
        fps: Some(12.5),
        start: Some(1.5),
        duration: Some(3.0),
        keyframe_every: 5,
        temporal_weight: 250.0,
        frame_iterations: Some(30),
        formats: vec![
            stylefarm_spec::VideoFormat::Gif,
            stylefarm_spec::VideoFormat::Webp,
        ],
        frames: 38,
        frame_size: (64, 48),
        rate: 12.5,
        audio: true,
    }
}

#[test]
fn video_jobs_and_every_video_step_round_trip() {
    use stylefarm_spec::video::{VideoStep, VideoTask};
    let mut job = JobSpec::new(JobKind::Video);
    job.styles = vec![style("inputs/s.png", 1.0)];
    job.settings.size = 64;
    job.video = Some(unusual_video());
    round_trip(&job);
    for step in [
        VideoStep::Frames,
        VideoStep::Flow(2),
        VideoStep::Keyframes,
        VideoStep::Segment(7),
        VideoStep::Encode,
    ] {
        plan_round_trip(TaskPlan::Video(VideoTask {
            step,
            video: unusual_video(),
            styles: vec![style("inputs/s.png", 1.0)],
            settings: unusual_settings(),
            frames: "jobs/j/f/".into(),
            flows: vec!["jobs/j/a/".into(), "jobs/j/b/".into()],
            keyframes: "jobs/j/k/".into(),
            segments: vec!["jobs/j/s/".into(), String::new()],
        }));
    }
    // Segment 8 would lie past the last keyframe (38 frames, every 5: 0…35, 37).
    let past = pb::TaskParams::from(&TaskPlan::Video(VideoTask {
        step: VideoStep::Segment(8),
        video: unusual_video(),
        styles: vec![],
        settings: unusual_settings(),
        frames: String::new(),
        flows: vec![],
        keyframes: String::new(),
        segments: vec![],
    }));
    let e = TaskPlan::try_from(&past).unwrap_err();
    assert_eq!(e.field, "params.video.segment", "{e}");
    let mut wrong = past.clone();
    if let Some(pb::task_params::Kind::Video(v)) = wrong.kind.as_mut() {
        v.step = "stylize".into();
    }
    assert_eq!(
        TaskPlan::try_from(&wrong).unwrap_err().field,
        "params.video.step"
    );
}
