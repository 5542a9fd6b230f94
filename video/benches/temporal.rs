//! Temporal consistency and wall time of three ways to stylise a clip.
//!
//! ```text
//! cargo bench -p stylefarm-video --bench temporal -- --size 64 --frames 25 --keyframe-every 12
//! ```
//!
//! Makes a clip from examples/images/tubingen.jpg with a slow pan and zoom
//! (or decodes `--video`), computes DIS flow and consistency weights for
//! every pair of neighbouring frames (and composes them into the links
//! between neighbouring keyframes), then stylises it in the style of
//! starry_night (or `--style`):
//!
//! - **sequential**: one chain, each frame from its predecessor warped plus
//!   the temporal loss (Ruder et al. 2016), as one worker would;
//! - **per-frame**: every frame on its own from its content (temporal
//!   weight 0, `init = content`): the flickering baseline;
//! - **segmented**: the keyframe chain (every K-th frame and the last, each
//!   with the full iteration count), then each segment between neighbouring
//!   keyframes forward and backward and blended: what the farm runs, here
//!   one after another.
//!
//! `--init content|noise` (default content): where the first frame, the
//! first keyframe and each per-frame render start (the farm's default is
//! noise, neural-style's).
//!
//! Iterations: `--iterations` for the first frame and every keyframe (and
//! each per-frame render), `--frame-iterations` for every other frame; the
//! defaults 120 / 30 keep the farm's ratio (`KEYFRAME_ITERATION_RATIO`).
//!
//! Prints each method's wall time and mean warping error (0..255, lower is
//! steadier), the ratios the issue sets targets for (segmented ≤ 1.1 ×
//! sequential, ≤ 0.5 × per-frame) and the segmented result's error at the
//! keyframe boundaries against its mean (target ≤ 1.2). `--out DIR` writes
//! the three results and a side-by-side preview as MP4.

use std::path::PathBuf;
use std::time::Instant;

use stylefarm_engine::model::default_model_path;
use stylefarm_engine::video::{
    FrameHooks, Motion, VideoSettings, stylize_chain, stylize_keyframes, stylize_segment,
    video_targets, warping_errors,
};
use stylefarm_engine::{DType, Image, Init, Settings, Style, Vgg19, parse_device};
use stylefarm_video::{
    ClipOptions, DecodeOptions, Frame, decode_all, encode, flow_pair, pan_zoom_clip, side_by_side,
};

struct Args {
    video: Option<PathBuf>,
    style: PathBuf,
    size: usize,
    frames: usize,
    every: usize,
    iterations: usize,
    frame_iterations: usize,
    temporal_weight: f64,
    methods: Vec<String>,
    device: String,
    noise_init: bool,
    out: Option<PathBuf>,
}

fn args() -> Args {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/images");
    let mut a = Args {
        video: None,
        style: shared.join("starry_night.jpg"),
        size: 64,
        frames: 25,
        every: 12,
        iterations: 120,
        frame_iterations: 30,
        temporal_weight: 1e3,
        methods: vec!["sequential".into(), "per-frame".into(), "segmented".into()],
        device: "cpu".into(),
        noise_init: false,
        out: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--video" => a.video = Some(val().into()),
            "--style" => a.style = val().into(),
            "--size" => a.size = val().parse().expect("--size N"),
            "--frames" => a.frames = val().parse().expect("--frames N"),
            "--keyframe-every" => a.every = val().parse().expect("--keyframe-every K"),
            "--iterations" => a.iterations = val().parse().expect("--iterations N"),
            "--frame-iterations" => {
                a.frame_iterations = val().parse().expect("--frame-iterations N")
            }
            "--temporal-weight" => a.temporal_weight = val().parse().expect("--temporal-weight W"),
            "--methods" => a.methods = val().split(',').map(str::to_string).collect(),
            "--device" => a.device = val(),
            "--init" => {
                a.noise_init = match val().as_str() {
                    "noise" => true,
                    "content" => false,
                    other => panic!("--init noise|content, not {other}"),
                }
            }
            "--out" => a.out = Some(val().into()),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn image(f: &Frame) -> Image {
    Image {
        width: f.width,
        height: f.height,
        data: f.data.clone(),
    }
}

fn frame(i: &Image) -> Frame {
    Frame {
        width: i.width,
        height: i.height,
        data: i.data.clone(),
    }
}

/// `to_prev[i]`: frame i+1 → i; `to_next[i]`: frame i → i+1.
fn motions(frames: &[Frame]) -> (Vec<Motion>, Vec<Motion>) {
    let (mut to_prev, mut to_next) = (Vec::new(), Vec::new());
    for w in frames.windows(2) {
        let p = flow_pair(&w[0], &w[1]).expect("flow");
        let m = |flow: Vec<f32>, weights: Vec<f32>| Motion {
            width: w[0].width,
            height: w[0].height,
            flow,
            weights,
        };
        to_prev.push(m(p.backward.data, p.backward_weights));
        to_next.push(m(p.forward.data, p.forward_weights));
    }
    (to_prev, to_next)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

// Long on purpose: one benchmark read top to bottom (make the clip, its flow, three
// ways to stylize it, the warping-error table), so each printed number is traced
// to the code in the order it is printed.
fn main() {
    let a = args();
    let dir = tempfile::tempdir().expect("temp dir");
    let video = a.video.clone().unwrap_or_else(|| {
        let p = dir.path().join("clip.mp4");
        let (w, h) = (a.size, (a.size * 3 / 4) & !1);
        pan_zoom_clip(
            &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/images/tubingen.jpg"),
            &p,
            &ClipOptions {
                width: w,
                height: h,
                frames: a.frames,
                fps: 10.0,
                audio: false,
            },
        )
        .expect("making the clip (is ffmpeg installed?)");
        p
    });
    let (decoded, frames) = decode_all(
        &video,
        &DecodeOptions {
            long_side: Some(a.size),
            ..DecodeOptions::default()
        },
    )
    .expect("decode");
    let frames: Vec<Frame> = frames.into_iter().take(a.frames).collect();
    let n = frames.len();
    let t = Instant::now();
    let (to_prev, to_next) = motions(&frames);
    let mut keys: Vec<usize> = (0..n).step_by(a.every.max(1)).collect();
    if keys.last() != Some(&(n - 1)) {
        keys.push(n - 1);
    }
    let key_frames: Vec<Frame> = keys.iter().map(|&k| frames[k].clone()).collect();
    // The keyframe chain's links: the neighbouring frames' flows composed
    // from keyframe e back to keyframe s, as the farm's flow task makes them.
    let key_prev: Vec<Motion> = keys
        .windows(2)
        .map(|w| {
            (w[0]..w[1] - 1)
                .rev()
                .fold(to_prev[w[1] - 1].clone(), |m, t| {
                    m.then(&to_prev[t]).expect("compose")
                })
        })
        .collect();
    let flow_s = t.elapsed().as_secs_f64();
    println!(
        "clip: {n} frames of {}×{}, keyframes {keys:?}; flow for {} pairs in {flow_s:.2} s",
        decoded.width,
        decoded.height,
        to_prev.len()
    );

    let device = parse_device(&a.device).expect("device");
    let model = Vgg19::load(&default_model_path(), &device, DType::F32).expect("model");
    let style = Image::load(&a.style, stylefarm_engine::image::DEFAULT_MAX_PIXELS).expect("style");
    let images: Vec<Image> = frames.iter().map(image).collect();
    let settings = Settings {
        size: decoded.width.max(decoded.height),
        iterations: a.iterations,
        init: if a.noise_init {
            Init::Noise
        } else {
            Init::Content
        },
        ..Settings::default()
    };
    let styles = [Style {
        image: style,
        weight: 1.0,
    }];
    let targets = video_targets(&model, &styles, &images[0], &settings).expect("targets");
    let video_settings = VideoSettings {
        temporal_weight: a.temporal_weight,
        frame_iterations: Some(a.frame_iterations),
    };
    let mut hooks = FrameHooks::default();
    let run = |name: &str| a.methods.iter().any(|m| m == name);
    let mut results: Vec<(&str, f64, Vec<Image>)> = Vec::new();

    if run("sequential") {
        let t = Instant::now();
        let out = stylize_chain(
            &model,
            &targets,
            &settings,
            &video_settings,
            &images,
            &to_prev,
            None,
            &mut hooks,
        )
        .expect("sequential");
        results.push(("sequential", t.elapsed().as_secs_f64(), out));
    }
    if run("per-frame") {
        let t = Instant::now();
        let per_frame = VideoSettings {
            temporal_weight: 0.0,
            frame_iterations: None,
        };
        let out = stylize_chain(
            &model, &targets, &settings, &per_frame, &images, &to_prev, None, &mut hooks,
        )
        .expect("per-frame");
        results.push(("per-frame", t.elapsed().as_secs_f64(), out));
    }
    let mut segment_report = None;
    if run("segmented") {
        let t = Instant::now();
        let key_images: Vec<Image> = key_frames.iter().map(image).collect();
        let key_out = stylize_keyframes(
            &model,
            &targets,
            &settings,
            &video_settings,
            &key_images,
            &key_prev,
            &mut hooks,
        )
        .expect("keyframes");
        let key_s = t.elapsed().as_secs_f64();
        let mut out = vec![key_out[0].clone()];
        let mut segment_s = Vec::new();
        for (i, w) in keys.windows(2).enumerate() {
            let (s, e) = (w[0], w[1]);
            let t = Instant::now();
            let seg = stylize_segment(
                &model,
                &targets,
                &settings,
                &video_settings,
                &images[s..=e],
                &key_out[i],
                &key_out[i + 1],
                &to_prev[s..e],
                &to_next[s..e],
                &mut hooks,
            )
            .expect("segment");
            segment_s.push(t.elapsed().as_secs_f64());
            out.extend(seg.into_iter().skip(1));
        }
        let total = key_s + segment_s.iter().sum::<f64>();
        let parallel = key_s + segment_s.iter().cloned().fold(0.0, f64::max);
        segment_report = Some(format!(
            "segmented wall: keyframes {key_s:.1} s + segments {:?} s; with one worker per segment {parallel:.1} s",
            segment_s
                .iter()
                .map(|s| (s * 10.0).round() / 10.0)
                .collect::<Vec<_>>()
        ));
        results.push(("segmented", total, out));
    }

    let errors: Vec<(&str, f64, Vec<f64>)> = results
        .iter()
        .map(|(name, s, out)| {
            (
                *name,
                *s,
                warping_errors(out, &to_prev).expect("warping error"),
            )
        })
        .collect();
    println!("{:<12} {:>9} {:>14}", "method", "wall s", "warping error");
    for (name, s, e) in &errors {
        println!("{name:<12} {s:>9.1} {:>14.3}", mean(e));
    }
    if let Some(r) = segment_report {
        println!("{r}");
    }
    let find = |name: &str| errors.iter().find(|e| e.0 == name).map(|e| &e.2);
    if let Some(seg) = find("segmented") {
        if let Some(seq) = find("sequential") {
            println!(
                "segmented / sequential = {:.3} (target ≤ 1.1)",
                mean(seg) / mean(seq)
            );
        }
        if let Some(pf) = find("per-frame") {
            println!(
                "segmented / per-frame = {:.3} (target ≤ 0.5)",
                mean(seg) / mean(pf)
            );
        }
        // Error t − 1 compares frame t with frame t − 1: the pairs that
        // touch an inner keyframe k are (k − 1, k) and (k, k + 1).
        let boundary: Vec<f64> = keys[1..keys.len() - 1]
            .iter()
            .flat_map(|&k| [seg[k - 1], seg[k]])
            .collect();
        if !boundary.is_empty() {
            println!(
                "segmented at keyframe boundaries: {:.3} vs mean {:.3}: ratio {:.3} (target ≤ 1.2)",
                mean(&boundary),
                mean(seg),
                mean(&boundary) / mean(seg)
            );
        }
    }
    for (name, _, e) in &errors {
        println!(
            "{name} per pair: {:?}",
            e.iter()
                .map(|e| (e * 100.0).round() / 100.0)
                .collect::<Vec<_>>()
        );
    }
    if let Some(out) = a.out {
        std::fs::create_dir_all(&out).expect("out dir");
        for (name, _, imgs) in &results {
            let fr: Vec<Frame> = imgs.iter().map(frame).collect();
            encode(&out.join(format!("{name}.mp4")), &fr, decoded.fps, None).expect("encode");
            let preview: Vec<Frame> = frames
                .iter()
                .zip(imgs)
                .map(|(f, s)| side_by_side(f, &frame(s)).expect("preview"))
                .collect();
            encode(
                &out.join(format!("{name}-preview.mp4")),
                &preview,
                decoded.fps,
                None,
            )
            .expect("encode");
        }
        println!("wrote {}", out.display());
    }
}
