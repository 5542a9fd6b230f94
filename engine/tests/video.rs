//! The temporal loss against finite differences in f64, and the video
//! algorithms (frame chains, keyframe segments, warping error) at ≤ 40 px
//! with a random-weight VGG-19.

mod common;

use candle_core::Tensor;
use stylefarm_engine::model::{Layer, Pooling};
use stylefarm_engine::objective::{Objective, TemporalTarget, Terms};
use stylefarm_engine::targets::StyleTargets;
use stylefarm_engine::video::{
    FrameHooks, Motion, Sampler, VideoSettings, stylize_chain, stylize_segment, video_targets,
    warping_errors,
};
use stylefarm_engine::{DType, Image, Settings, Style, loss};

fn tensor(v: Vec<f64>, shape: (usize, usize, usize)) -> Tensor {
    Tensor::from_vec(v, shape, &common::device()).unwrap()
}

#[test]
fn temporal_loss_gradient_matches_finite_differences() {
    let (h, w) = (5, 6);
    let mut r = common::lcg(21);
    let x: Vec<f64> = (0..3 * h * w).map(|_| r() * 100.0).collect();
    let warped = tensor((0..3 * h * w).map(|_| r() * 100.0).collect(), (3, h, w));
    let c = tensor((0..h * w).map(|_| (r() + 1.0) / 2.0).collect(), (1, h, w));
    let at = |v: &[f64]| {
        loss::temporal(&tensor(v.to_vec(), (3, h, w)), &warped, &c, 1e3)
            .unwrap()
            .0
    };
    let (l, g) = loss::temporal(&tensor(x.clone(), (3, h, w)), &warped, &c, 1e3).unwrap();
    assert!(l > 0.0);
    let g = g.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let gmax = g.iter().fold(0f64, |m, g| m.max(g.abs()));
    // The loss is quadratic in each element: a wide step has no truncation
    // error and keeps rounding small against a loss of ~1e6.
    let eps = 1e-2;
    for i in 0..x.len() {
        let mut p = x.clone();
        p[i] += eps;
        let mut m = x.clone();
        m[i] -= eps;
        let fd = (at(&p) - at(&m)) / (2.0 * eps);
        assert!(
            (fd - g[i]).abs() <= 1e-9 * gmax,
            "element {i}: finite difference {fd}, gradient {} (max |g| {gmax})",
            g[i]
        );
    }
}

#[test]
fn temporal_loss_is_the_weighted_mean_square() {
    let warped = tensor(vec![0.0; 12], (3, 2, 2));
    let x = tensor((0..12).map(|i| i as f64).collect(), (3, 2, 2));
    let c = tensor(vec![1.0, 0.0, 0.5, 0.0], (1, 2, 2));
    let (l, _) = loss::temporal(&x, &warped, &c, 2.0).unwrap();
    // Pixels 0 and 2 of each channel: values 0, 2 / 4, 6 / 8, 10.
    let want = 2.0 * (0.0 + 0.5 * 4.0 + 16.0 + 0.5 * 36.0 + 64.0 + 0.5 * 100.0) / 12.0;
    assert!((l - want).abs() < 1e-12, "{l} vs {want}");
}

/// The whole objective (content, style, TV and the temporal term) against
/// central differences, as `gradient.rs` does without the temporal term.
#[test]
fn whole_loss_gradient_with_temporal_term() {
    whole_loss_gradient(false);
}

/// The same with the temporal term measured through a warp (`S x` against
/// the target, gradient `Sᵀ`), as a backward chain uses it.
#[test]
fn whole_loss_gradient_with_temporal_term_through_a_warp() {
    whole_loss_gradient(true);
}

fn whole_loss_gradient(through: bool) {
    let model = common::random_model(DType::F64, 1);
    let (h, w) = (19, 17);
    let mut r = common::lcg(5);
    let mut rand = |scale: f64| tensor((0..3 * h * w).map(|_| r() * scale).collect(), (3, h, w));
    let (content, style_img, x, warped) = (rand(1.0), rand(1.0), rand(1.0), rand(1.0));
    let mut r = common::lcg(6);
    let c = tensor((0..h * w).map(|_| (r() + 1.0) / 2.0).collect(), (1, h, w));
    let style_layers: Vec<(Layer, f64)> = ["relu1_1", "relu3_1", "relu5_1"]
        .iter()
        .map(|n| (Layer::parse(n).unwrap(), 100.0))
        .collect();
    let content_layers = vec![(Layer::parse("relu4_2").unwrap(), 5.0)];
    let layers: Vec<Layer> = style_layers.iter().map(|(l, _)| *l).collect();
    let acts = model.forward(&style_img, &layers, Pooling::Max).unwrap();
    let targets = StyleTargets::plain(
        layers
            .iter()
            .map(|&l| (l, loss::gram(acts.get(l)).unwrap()))
            .collect(),
    );
    let obj = Objective::new(
        &model,
        Terms {
            pooling: Pooling::Max,
            content_image: Some(&content),
            content_layers: &content_layers,
            style: &targets,
            style_layers: &style_layers,
            tv_weight: 1e-3,
            normalize_gradients: false,
            tileable: false,
            tile: None,
        },
        (w, h),
    )
    .unwrap()
    .with_temporal(TemporalTarget {
        target: warped,
        weights: c,
        weight: 1e3,
        through: through.then(|| {
            // Up to ±2.5 px each way: some samples leave the frame.
            let mut r = common::lcg(8);
            let flow = (0..2 * h * w).map(|_| (r() * 2.5) as f32).collect();
            let m = Motion {
                width: w,
                height: h,
                flow,
                weights: vec![1.0; h * w],
            };
            Sampler::new(&m).unwrap()
        }),
    })
    .unwrap();
    let (losses, grad) = obj.evaluate(&x).unwrap();
    assert!(losses.temporal > 0.0);
    let sum = losses.content + losses.style + losses.tv + losses.temporal;
    assert!((losses.total - sum).abs() <= 1e-12 * sum);
    let xv = x.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let gv = grad.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let gmax = gv.iter().fold(0f64, |m, g| m.max(g.abs()));
    let mut pick = common::lcg(3);
    for _ in 0..24 {
        let i = ((pick() + 1.0) / 2.0 * (xv.len() - 1) as f64) as usize;
        let at = |d: f64| {
            let mut v = xv.clone();
            v[i] += d;
            obj.evaluate(&tensor(v, (3, h, w))).unwrap().0.total
        };
        let fd = (at(1e-5) - at(-1e-5)) / 2e-5;
        assert!(
            (fd - gv[i]).abs() <= 1e-6 * gmax + 1e-6 * fd.abs(),
            "element {i}: finite difference {fd}, gradient {} (max |g| {gmax})",
            gv[i]
        );
    }
}

#[test]
fn temporal_weights_of_the_wrong_shape_are_refused() {
    let model = common::random_model(DType::F32, 1);
    let targets = StyleTargets::plain(Vec::new());
    let obj = Objective::new(
        &model,
        Terms {
            pooling: Pooling::Max,
            content_image: None,
            content_layers: &[],
            style: &targets,
            style_layers: &[],
            tv_weight: 0.0,
            normalize_gradients: false,
            tileable: false,
            tile: None,
        },
        (8, 8),
    )
    .unwrap();
    let dev = common::device();
    let err = obj
        .with_temporal(TemporalTarget {
            target: Tensor::zeros((3, 8, 8), candle_core::DType::F32, &dev).unwrap(),
            weights: Tensor::zeros((1, 8, 7), candle_core::DType::F32, &dev).unwrap(),
            weight: 1.0,
            through: None,
        })
        .err()
        .unwrap();
    assert!(err.to_string().contains("does not match"), "{err}");
}

/// `n` frames of a picture panning by one pixel a frame: frame `t` at
/// `(x, y)` shows the scene at `(x + t, y)`, so it shows what frame `t − 1`
/// shows at `(x + 1, y)`; the last column has no source.
fn panning(n: usize, w: usize, h: usize) -> (Vec<Image>, Vec<Motion>, Vec<Motion>) {
    let scene = common::picture(w + n, h, 31);
    let frames: Vec<Image> = (0..n)
        .map(|t| {
            let mut data = Vec::with_capacity(3 * w * h);
            for c in 0..3 {
                for y in 0..h {
                    let row = c * scene.width * h + y * scene.width + t;
                    data.extend_from_slice(&scene.data[row..row + w]);
                }
            }
            Image {
                width: w,
                height: h,
                data,
            }
        })
        .collect();
    let motion = |u: f32| {
        let mut flow = vec![u; w * h];
        flow.extend(vec![0.0; w * h]);
        let weights = (0..w * h)
            .map(|i| {
                let x = (i % w) as f32 + u;
                if x >= 0.0 && x <= (w - 1) as f32 {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        Motion {
            width: w,
            height: h,
            flow,
            weights,
        }
    };
    (frames, vec![motion(1.0); n - 1], vec![motion(-1.0); n - 1])
}

fn quick() -> Settings {
    Settings {
        size: 32,
        iterations: 10,
        seed: 3,
        ..Settings::default()
    }
}

fn style() -> Vec<Style> {
    vec![Style {
        image: common::picture(40, 32, 8),
        weight: 1.0,
    }]
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn a_chain_follows_the_motion_and_per_frame_mode_does_not() {
    let model = common::random_model(DType::F32, 11);
    let (frames, to_prev, _) = panning(4, 32, 24);
    let settings = quick();
    let targets = video_targets(&model, &style(), &frames[0], &settings).unwrap();
    let run = |video: &VideoSettings| {
        stylize_chain(
            &model,
            &targets,
            &settings,
            video,
            &frames,
            &to_prev,
            None,
            &mut FrameHooks::default(),
        )
        .unwrap()
    };
    let chained = run(&VideoSettings::default());
    let independent = run(&VideoSettings {
        temporal_weight: 0.0,
        ..VideoSettings::default()
    });
    let (ec, ei) = (
        mean(&warping_errors(&chained, &to_prev).unwrap()),
        mean(&warping_errors(&independent, &to_prev).unwrap()),
    );
    assert!(ec < 0.5 * ei, "chained {ec} vs per-frame {ei}");
    // Frame 0 has no neighbour: both modes render it alike.
    assert_eq!(chained[0], independent[0]);
    assert_eq!(chained.len(), 4);
}

#[test]
fn per_frame_mode_renders_each_frame_as_a_still_would() {
    let model = common::random_model(DType::F32, 11);
    let (frames, to_prev, _) = panning(2, 32, 24);
    let settings = quick();
    let targets = video_targets(&model, &style(), &frames[0], &settings).unwrap();
    let video = VideoSettings {
        temporal_weight: 0.0,
        ..VideoSettings::default()
    };
    let mut hooks = FrameHooks::default();
    let out = stylize_chain(
        &model, &targets, &settings, &video, &frames, &to_prev, None, &mut hooks,
    )
    .unwrap();
    let still = stylefarm_engine::render_with_targets(
        &model,
        Some(&frames[1]),
        &targets,
        &settings,
        stylefarm_engine::Hooks::default(),
    )
    .unwrap();
    assert_eq!(out[1], still);
}

#[test]
fn a_segment_keeps_both_keyframes_and_follows_the_motion() {
    let model = common::random_model(DType::F32, 11);
    let (frames, to_prev, to_next) = panning(5, 32, 24);
    let settings = quick();
    let targets = video_targets(&model, &style(), &frames[0], &settings).unwrap();
    let video = VideoSettings::default();
    // Keyframes 0 and 4, rendered on their own: the segment must not touch them.
    let first = stylefarm_engine::render_with_targets(
        &model,
        Some(&frames[0]),
        &targets,
        &settings,
        stylefarm_engine::Hooks::default(),
    )
    .unwrap();
    let last = stylefarm_engine::render_with_targets(
        &model,
        Some(&frames[4]),
        &targets,
        &settings,
        stylefarm_engine::Hooks::default(),
    )
    .unwrap();
    let mut seen = Vec::new();
    let mut on_progress = |f: usize, p: &stylefarm_engine::Progress| {
        if p.iteration == p.iterations {
            seen.push(f)
        }
    };
    let mut hooks = FrameHooks {
        progress: Some(&mut on_progress),
        cancel: None,
    };
    let out = stylize_segment(
        &model, &targets, &settings, &video, &frames, &first, &last, &to_prev, &to_next, &mut hooks,
    )
    .unwrap();
    assert_eq!(out.len(), 5);
    assert_eq!(out[0], first);
    assert_eq!(out[4], last);
    // Forward over the inner frames, then backward.
    assert_eq!(seen, vec![1, 2, 3, 3, 2, 1]);
    let inner = mean(&warping_errors(&out[..4], &to_prev[..3]).unwrap());
    let independent: Vec<Image> = frames
        .iter()
        .map(|f| {
            stylefarm_engine::render_with_targets(
                &model,
                Some(f),
                &targets,
                &settings,
                stylefarm_engine::Hooks::default(),
            )
            .unwrap()
        })
        .collect();
    let per_frame = mean(&warping_errors(&independent, &to_prev).unwrap());
    assert!(
        inner < 0.5 * per_frame,
        "segment {inner} vs per-frame {per_frame}"
    );
}

#[test]
fn frames_of_the_wrong_size_or_count_are_clear_errors() {
    let model = common::random_model(DType::F32, 11);
    let (frames, to_prev, _) = panning(3, 32, 24);
    let settings = quick();
    let targets = video_targets(&model, &style(), &frames[0], &settings).unwrap();
    let video = VideoSettings::default();
    let mut hooks = FrameHooks::default();
    let err = stylize_chain(
        &model,
        &targets,
        &settings,
        &video,
        &frames,
        &to_prev[..1],
        None,
        &mut hooks,
    )
    .unwrap_err();
    assert!(err.to_string().contains("3 frames need 2 motions"), "{err}");
    let big = Settings {
        size: 64,
        ..settings.clone()
    };
    let err = stylize_chain(
        &model, &targets, &big, &video, &frames, &to_prev, None, &mut hooks,
    )
    .unwrap_err();
    assert!(err.to_string().contains("set size to 32"), "{err}");
    let bad = VideoSettings {
        temporal_weight: f64::NAN,
        ..video
    };
    let err = stylize_chain(
        &model, &targets, &settings, &bad, &frames, &to_prev, None, &mut hooks,
    )
    .unwrap_err();
    assert!(err.to_string().contains("temporal_weight"), "{err}");
}
