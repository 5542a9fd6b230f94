//! Temporal consistency and wall time of three ways to stylise a clip.
//!
//! ```text
//! cargo bench -p stylefarm-video --bench temporal -- --size 64 --frames 19 --keyframe-every 6
//! ```
//!
//! Makes a clip from ../shared/images/tubingen.jpg with a slow pan and zoom
//! (or decodes `--video`), computes DIS flow and consistency weights for
//! every pair of neighbouring frames and of neighbouring keyframes, then
//! stylises it in the style of starry_night (or `--style`):
//!
//! - **sequential**: one chain, each frame from its predecessor warped plus
//!   the temporal loss (Ruder et al. 2016), as one worker would;
//! - **per-frame**: every frame on its own from its content (temporal
//!   weight 0, `init = content`): the flickering baseline;
//! - **segmented**: the keyframe chain (every K-th frame and the last), then
//!   each segment between neighbouring keyframes forward and backward and
//!   blended: what the farm runs, here one after another.
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
    FrameHooks, Motion, VideoSettings, stylize_chain, stylize_segment, video_targets,
    warping_errors,
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
    device: String,
    out: Option<PathBuf>,
}

fn args() -> Args {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/images");
    let mut a = Args {
        video: None,
        style: shared.join("starry_night.jpg"),
        size: 64,
        frames: 19,
        every: 6,
        iterations: 100,
        frame_iterations: 50,
        temporal_weight: 1e3,
        device: "cpu".into(),
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
            "--device" => a.device = val(),
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

fn main() {
    let a = args();
    let dir = tempfile::tempdir().expect("temp dir");
    let video = a.video.clone().unwrap_or_else(|| {
        let p = dir.path().join("clip.mp4");
        let (w, h) = (a.size, (a.size * 3 / 4) & !1);
        pan_zoom_clip(
            &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/images/tubingen.jpg"),
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
    let (key_prev, _) = motions(&key_frames);
    let flow_s = t.elapsed().as_secs_f64();
    println!(
        "clip: {n} frames of {}×{}, keyframes {keys:?}; flow for {} pairs in {flow_s:.2} s",
        decoded.width,
        decoded.height,
        to_prev.len() + key_prev.len()
    );

    let device = parse_device(&a.device).expect("device");
    let model = Vgg19::load(&default_model_path(), &device, DType::F32).expect("model");
    let style = Image::load(&a.style, stylefarm_engine::image::DEFAULT_MAX_PIXELS).expect("style");
    let images: Vec<Image> = frames.iter().map(image).collect();
    let settings = Settings {
        size: decoded.width.max(decoded.height),
        iterations: a.iterations,
        init: Init::Content,
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

    let t = Instant::now();
    let sequential = stylize_chain(
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
    let seq_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let per_frame = stylize_chain(
        &model,
        &targets,
        &settings,
        &VideoSettings {
            temporal_weight: 0.0,
            frame_iterations: None,
        },
        &images,
        &to_prev,
        None,
        &mut hooks,
    )
    .expect("per-frame");
    let pf_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let key_images: Vec<Image> = key_frames.iter().map(image).collect();
    let key_out = stylize_chain(
        &model,
        &targets,
        &settings,
        &video_settings,
        &key_images,
        &key_prev,
        None,
        &mut hooks,
    )
    .expect("keyframes");
    let key_s = t.elapsed().as_secs_f64();
    let mut segmented = vec![key_out[0].clone()];
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
        segmented.extend(seg.into_iter().skip(1));
    }
    let seg_total = key_s + segment_s.iter().sum::<f64>();
    let seg_parallel = key_s + segment_s.iter().cloned().fold(0.0, f64::max);

    let err = |out: &[Image]| warping_errors(out, &to_prev).expect("warping error");
    let (e_seq, e_pf, e_seg) = (err(&sequential), err(&per_frame), err(&segmented));
    println!("{:<12} {:>9} {:>14}", "method", "wall s", "warping error");
    println!("{:<12} {:>9.1} {:>14.3}", "sequential", seq_s, mean(&e_seq));
    println!("{:<12} {:>9.1} {:>14.3}", "per-frame", pf_s, mean(&e_pf));
    println!(
        "{:<12} {:>9.1} {:>14.3}",
        "segmented",
        seg_total,
        mean(&e_seg)
    );
    println!(
        "segmented wall: keyframes {key_s:.1} s + segments {:?} s; with one worker per segment {seg_parallel:.1} s",
        segment_s
            .iter()
            .map(|s| (s * 10.0).round() / 10.0)
            .collect::<Vec<_>>()
    );
    println!(
        "segmented / sequential = {:.3} (target ≤ 1.1); segmented / per-frame = {:.3} (target ≤ 0.5)",
        mean(&e_seg) / mean(&e_seq),
        mean(&e_seg) / mean(&e_pf)
    );
    // Error index t − 1 compares frame t with frame t − 1: the pairs that
    // cross an inner keyframe k are (k − 1, k) and (k, k + 1).
    let boundary: Vec<f64> = keys[1..keys.len() - 1]
        .iter()
        .flat_map(|&k| [e_seg[k - 1], e_seg[k]])
        .collect();
    if !boundary.is_empty() {
        println!(
            "segmented at keyframe boundaries: {:.3} vs mean {:.3}: ratio {:.3} (target ≤ 1.2)",
            mean(&boundary),
            mean(&e_seg),
            mean(&boundary) / mean(&e_seg)
        );
    }
    println!(
        "per-frame errors: seq {:?}\n seg {:?}\n pf {:?}",
        e_seq
            .iter()
            .map(|e| (e * 100.0).round() / 100.0)
            .collect::<Vec<_>>(),
        e_seg
            .iter()
            .map(|e| (e * 100.0).round() / 100.0)
            .collect::<Vec<_>>(),
        e_pf.iter()
            .map(|e| (e * 100.0).round() / 100.0)
            .collect::<Vec<_>>()
    );
    if let Some(out) = a.out {
        std::fs::create_dir_all(&out).expect("out dir");
        for (name, imgs) in [
            ("sequential", &sequential),
            ("per-frame", &per_frame),
            ("segmented", &segmented),
        ] {
            let fr: Vec<Frame> = imgs.iter().map(frame).collect();
            encode(&out.join(format!("{name}.mp4")), &fr, decoded.fps, None).expect("encode");
        }
        let preview: Vec<Frame> = frames
            .iter()
            .zip(&segmented)
            .map(|(f, s)| side_by_side(f, &frame(s)).expect("preview"))
            .collect();
        encode(&out.join("preview.mp4"), &preview, decoded.fps, None).expect("encode");
        println!("wrote {}", out.display());
    }
}
