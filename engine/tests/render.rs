//! Renders at ≤ 64 px with a random-weight VGG-19: determinism, optimisers,
//! multi-style, texture, colours, multi-scale, snapshots, cancellation.

mod common;

use stylefarm_engine::colors::OriginalColors;
use stylefarm_engine::optim::Optimizer;
use stylefarm_engine::{
    CancelToken, DType, EngineError, Hooks, Image, Init, Progress, Scales, Settings, Style, render,
};

fn quick(iterations: usize) -> Settings {
    Settings {
        size: 40,
        iterations,
        seed: 7,
        ..Settings::default()
    }
}

fn run(settings: &Settings, content: Option<&Image>, styles: &[Style]) -> (Image, Vec<Progress>) {
    let model = common::random_model(DType::F32, 11);
    let mut seen = Vec::new();
    let mut on_progress = |p: &Progress| seen.push(*p);
    let hooks = Hooks {
        progress: Some(&mut on_progress),
        ..Hooks::default()
    };
    let img = render(&model, content, styles, settings, hooks).unwrap();
    (img, seen)
}

fn style(seed: u64, weight: f64) -> Style {
    Style {
        image: common::picture(48, 40, seed),
        weight,
    }
}

#[test]
fn same_seed_gives_bit_identical_output_and_other_seed_differs() {
    let content = common::picture(48, 36, 1);
    let s = quick(6);
    let (a, _) = run(&s, Some(&content), &[style(2, 1.0)]);
    let (b, _) = run(&s, Some(&content), &[style(2, 1.0)]);
    assert_eq!(a, b);
    let (c, _) = run(&Settings { seed: 8, ..s }, Some(&content), &[style(2, 1.0)]);
    assert_ne!(a, c);
    assert_eq!((a.width, a.height), (40, 30));
}

#[test]
fn lbfgs_and_adam_reduce_the_loss() {
    let content = common::picture(40, 40, 3);
    // The random-weight network's loss surface is steep: Adam needs a small step here.
    for optimizer in [
        Optimizer::Lbfgs {
            history: 10,
            learning_rate: 1.0,
        },
        Optimizer::Adam {
            learning_rate: 0.05,
        },
    ] {
        let s = Settings {
            optimizer,
            init: Init::Content,
            ..quick(20)
        };
        let (_, seen) = run(&s, Some(&content), &[style(4, 1.0)]);
        let (first, last) = (seen[0].losses.total, seen[seen.len() - 1].losses.total);
        assert!(last < 0.9 * first, "{optimizer:?}: loss {first} -> {last}");
        assert_eq!(seen.len(), 20);
    }
}

#[test]
fn blend_weight_one_equals_single_style() {
    let content = common::picture(40, 32, 5);
    let s = quick(4);
    let (single, _) = run(&s, Some(&content), &[style(6, 1.0)]);
    let (blend, _) = run(&s, Some(&content), &[style(6, 1.0), style(9, 0.0)]);
    assert_eq!(single, blend);
    let (mixed, _) = run(&s, Some(&content), &[style(6, 0.5), style(9, 0.5)]);
    assert_ne!(single, mixed);
}

#[test]
fn texture_synthesis_needs_no_content() {
    let s = Settings {
        texture: Some((48, 32)),
        ..quick(30)
    };
    let (img, seen) = run(&s, None, &[style(10, 1.0)]);
    assert_eq!((img.width, img.height), (48, 32));
    assert!(seen.iter().all(|p| p.losses.content == 0.0));
    assert!(
        seen[29].losses.style < 0.8 * seen[0].losses.style,
        "{} -> {}",
        seen[0].losses.style,
        seen[29].losses.style
    );
}

#[test]
fn multiscale_visits_each_scale_and_ends_at_the_output_size() {
    let content = common::picture(64, 48, 12);
    let s = Settings {
        scales: Scales::Explicit(vec![24, 40, 56]),
        ..quick(3)
    };
    let (img, seen) = run(&s, Some(&content), &[style(13, 1.0)]);
    assert_eq!((img.width, img.height), (56, 42));
    let dims: Vec<_> = seen
        .iter()
        .filter(|p| p.iteration == 1)
        .map(|p| (p.scale, p.width, p.height))
        .collect();
    assert_eq!(dims, vec![(0, 24, 18), (1, 40, 30), (2, 56, 42)]);
}

#[test]
fn auto_scales_step_by_root_two_from_about_128() {
    let content = common::picture(64, 48, 1);
    let s = Settings {
        size: 512,
        scales: Scales::Auto,
        ..Settings::default()
    };
    let dims = s.scale_dims(Some(&content)).unwrap();
    assert_eq!(
        dims,
        vec![(128, 96), (181, 136), (256, 192), (362, 272), (512, 384)]
    );
    let small = Settings {
        size: 100,
        scales: Scales::Auto,
        ..Settings::default()
    };
    assert_eq!(small.scale_dims(Some(&content)).unwrap(), vec![(100, 75)]);
}

#[test]
fn snapshots_every_k_iterations_and_cancellation() {
    let content = common::picture(32, 32, 14);
    let s = Settings {
        save_every: 2,
        ..quick(5)
    };
    let model = common::random_model(DType::F32, 11);
    let mut shots = Vec::new();
    let mut snap = |p: &Progress, img: &Image| shots.push((p.iteration, img.width));
    let hooks = Hooks {
        snapshot: Some(&mut snap),
        ..Hooks::default()
    };
    render(&model, Some(&content), &[style(15, 1.0)], &s, hooks).unwrap();
    assert_eq!(shots, vec![(2, 40), (4, 40), (5, 40)]);

    let token = CancelToken::new();
    let t2 = token.clone();
    let mut count = 0;
    let mut on_progress = |p: &Progress| {
        count = p.iteration;
        if p.iteration == 2 {
            t2.cancel();
        }
    };
    let hooks = Hooks {
        progress: Some(&mut on_progress),
        cancel: Some(token),
        ..Hooks::default()
    };
    let err = render(&model, Some(&content), &[style(15, 1.0)], &quick(50), hooks).unwrap_err();
    assert!(matches!(err, EngineError::Cancelled), "{err}");
    assert_eq!(count, 2);
}

#[test]
fn original_colors_modes_run() {
    let content = common::picture(32, 32, 16);
    for mode in [OriginalColors::Luminance, OriginalColors::Match] {
        let s = Settings {
            original_colors: mode,
            ..quick(3)
        };
        let (img, _) = run(&s, Some(&content), &[style(17, 1.0)]);
        assert_eq!((img.width, img.height), (40, 40));
        assert!(img.data.iter().all(|v| (0.0..=1.0).contains(v)));
    }
}

#[test]
fn init_from_an_image_starts_there() {
    let content = common::picture(32, 32, 18);
    let init = common::picture(50, 50, 19);
    let s = Settings {
        init: Init::Image(init.clone()),
        iterations: 1,
        optimizer: Optimizer::Adam {
            learning_rate: 1e-6,
        },
        ..quick(1)
    };
    let (img, _) = run(&s, Some(&content), &[style(20, 1.0)]);
    let expect = init.resize(40, 40);
    let diff = img
        .data
        .iter()
        .zip(&expect.data)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(diff < 2e-3, "max diff {diff}");
}

// Long on purpose: a list of bad settings, each with the error it must give;
// one case a few lines, read as a table.
#[test]
fn bad_settings_are_clear_errors() {
    let model = common::random_model(DType::F32, 1);
    let content = common::picture(32, 32, 1);
    let styles = [style(2, 1.0)];
    let cases: Vec<(Settings, Option<&Image>, &[Style], &str)> = vec![
        (
            Settings {
                content_weight: -1.0,
                ..quick(1)
            },
            Some(&content),
            &styles,
            "content_weight",
        ),
        (
            Settings {
                style_weight: f64::NAN,
                ..quick(1)
            },
            Some(&content),
            &styles,
            "style_weight",
        ),
        (
            Settings {
                tv_weight: f64::INFINITY,
                ..quick(1)
            },
            Some(&content),
            &styles,
            "tv_weight",
        ),
        (
            Settings {
                style_layers: vec![("relu9_1".into(), 1.0)],
                ..quick(1)
            },
            Some(&content),
            &styles,
            "unknown layer 'relu9_1'",
        ),
        (
            Settings {
                content_layers: vec![("relu4_2".into(), -2.0)],
                ..quick(1)
            },
            Some(&content),
            &styles,
            "content_layers",
        ),
        (quick(1), Some(&content), &[], "at least one style image"),
        (quick(1), None, &styles, "--texture"),
        (
            Settings {
                texture: Some((32, 32)),
                ..quick(1)
            },
            Some(&content),
            &styles,
            "texture mode takes no content",
        ),
        (
            Settings {
                size: 8,
                ..quick(1)
            },
            Some(&content),
            &styles,
            "at least 16 px",
        ),
        (
            Settings {
                iterations: 0,
                ..quick(1)
            },
            Some(&content),
            &styles,
            "iterations",
        ),
        (
            Settings {
                style_scale: 0.0,
                ..quick(1)
            },
            Some(&content),
            &styles,
            "style_scale",
        ),
        (
            Settings {
                scales: Scales::Explicit(vec![64, 32]),
                ..quick(1)
            },
            Some(&content),
            &styles,
            "increasing",
        ),
        (
            Settings {
                optimizer: Optimizer::Adam {
                    learning_rate: -1.0,
                },
                ..quick(1)
            },
            Some(&content),
            &styles,
            "learning_rate",
        ),
        (
            Settings {
                texture: Some((32, 32)),
                original_colors: OriginalColors::Luminance,
                ..quick(1)
            },
            None,
            &styles,
            "original_colors",
        ),
    ];
    for (settings, content, styles, expect) in cases {
        let err = render(&model, content, styles, &settings, Hooks::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(expect), "expected '{expect}' in: {err}");
    }
    let neg = [Style {
        image: common::picture(16, 16, 1),
        weight: -1.0,
    }];
    let err = render(&model, Some(&content), &neg, &quick(1), Hooks::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("style weight"), "{err}");
}

#[test]
fn precomputed_targets_through_safetensors_give_the_same_render() {
    use stylefarm_engine::{StyleTargets, render_with_targets};
    let model = common::random_model(DType::F32, 11);
    let content = common::picture(48, 36, 1);
    let styles = [style(2, 1.0), style(5, 0.5)];
    let s = Settings {
        scales: Scales::Explicit(vec![24, 40]),
        ..quick(3)
    };
    let direct = render(&model, Some(&content), &styles, &s, Hooks::default()).unwrap();
    let targets: Vec<StyleTargets> = s
        .scale_dims(Some(&content))
        .unwrap()
        .into_iter()
        .map(|dims| {
            let t = StyleTargets::for_scale(&model, &styles, Some(&content), &s, dims).unwrap();
            let bytes = t.to_safetensors().unwrap();
            StyleTargets::from_safetensors(&bytes, model.device(), DType::F32).unwrap()
        })
        .collect();
    let cached =
        render_with_targets(&model, Some(&content), &targets, &s, Hooks::default()).unwrap();
    assert_eq!(direct, cached);

    let err = render_with_targets(&model, Some(&content), &targets[..1], &s, Hooks::default())
        .unwrap_err();
    assert!(err.to_string().contains("one per scale"), "{err}");
    let err = StyleTargets::from_safetensors(b"garbage", model.device(), DType::F32).unwrap_err();
    assert!(
        err.to_string().contains("delete the cached targets"),
        "{err}"
    );
}

/// Mean absolute difference across the wrap-around edges over the mean
/// difference between neighbours inside: about 1 for a tileable picture.
fn seam_ratio(img: &Image) -> f64 {
    let (w, h) = (img.width, img.height);
    let px = |c: usize, y: usize, x: usize| img.data[(c * h + y) * w + x] as f64;
    let (mut inner, mut n_inner, mut wrap, mut n_wrap) = (0.0, 0.0, 0.0, 0.0);
    for c in 0..3 {
        for y in 0..h {
            for x in 0..w {
                let right = (px(c, y, x) - px(c, y, (x + 1) % w)).abs();
                let down = (px(c, y, x) - px(c, (y + 1) % h, x)).abs();
                if x + 1 == w {
                    wrap += right;
                    n_wrap += 1.0;
                } else {
                    inner += right;
                    n_inner += 1.0;
                }
                if y + 1 == h {
                    wrap += down;
                    n_wrap += 1.0;
                } else {
                    inner += down;
                    n_inner += 1.0;
                }
            }
        }
    }
    (wrap / n_wrap) / (inner / n_inner)
}

#[test]
fn tileable_textures_repeat_without_a_seam() {
    let s = Settings {
        texture: Some((48, 32)),
        tileable: true,
        ..quick(30)
    };
    let (tiled, _) = run(&s, None, &[style(10, 1.0)]);
    let (plain, _) = run(
        &Settings {
            tileable: false,
            ..s.clone()
        },
        None,
        &[style(10, 1.0)],
    );
    let (t, p) = (seam_ratio(&tiled), seam_ratio(&plain));
    assert!(t < 1.3, "tileable seam ratio {t} (plain {p})");
    assert!(t < p, "tileable seam ratio {t} not below plain {p}");

    let err = render(
        &common::random_model(DType::F32, 11),
        None,
        &[style(10, 1.0)],
        &Settings {
            texture: Some((40, 32)),
            ..s
        },
        Hooks::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("multiples of 16"), "{err}");
}

#[test]
fn losses_read_every_few_iterations_still_report_each_and_change_nothing() {
    // A GPU reads its losses every 10 iterations by default; here the CPU
    // does it every 4 (and at the last, the 10th), with snapshots every 3.
    let content = common::picture(40, 32, 1);
    let styles = [style(2, 1.0)];
    let render_with = |every: usize| {
        let model = common::random_model(DType::F32, 11);
        let settings = Settings {
            read_losses_every: Some(every),
            save_every: 3,
            ..quick(10)
        };
        let mut seen = Vec::new();
        let mut snapshots = Vec::new();
        let mut on_progress = |p: &Progress| seen.push(*p);
        let mut on_snapshot = |p: &Progress, _: &Image| snapshots.push(p.iteration);
        let hooks = Hooks {
            progress: Some(&mut on_progress),
            snapshot: Some(&mut on_snapshot),
            ..Hooks::default()
        };
        let img = render(&model, Some(&content), &styles, &settings, hooks).unwrap();
        (img, seen, snapshots)
    };
    let (each, each_seen, each_snaps) = render_with(1);
    let (burst, burst_seen, burst_snaps) = render_with(4);
    let iterations: Vec<usize> = burst_seen.iter().map(|p| p.iteration).collect();
    assert_eq!(iterations, (1..=10).collect::<Vec<_>>());
    for (a, b) in each_seen.iter().zip(&burst_seen) {
        assert_eq!(a.losses, b.losses, "iteration {}", a.iteration);
    }
    assert_eq!(each.data, burst.data, "the picture does not depend on it");
    assert_eq!(each_snaps, [3, 6, 9, 10]);
    assert_eq!(burst_snaps, each_snaps, "snapshots read at once");
}
