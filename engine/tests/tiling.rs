//! Exact tiling: the tiled loss and gradient equal the untiled ones, for max
//! and average pooling, tiles that do and do not divide the image, and guided
//! Grams with region maps; 20 Adam iterations with and without tiles end
//! within 0.1/255 of each other on average (at fp32, on any device).

mod common;

use candle_core::Tensor;
use stylefarm_engine::model::{Layer, Pooling};
use stylefarm_engine::objective::{Objective, Terms};
use stylefarm_engine::optim::Optimizer;
use stylefarm_engine::{
    DType, Hooks, Image, Init, Mask, Precision, Settings, Style, StyleTargets, Vgg19, render,
};

const W: usize = 112;
const H: usize = 80;

fn image(seed: u64) -> Tensor {
    let mut r = common::lcg(seed);
    let v: Vec<f32> = (0..3 * H * W).map(|_| (r() * 60.0) as f32).collect();
    Tensor::from_vec(v, (3, H, W), &common::device()).unwrap()
}

fn layers(names: &[&str], weight: f64) -> Vec<(Layer, f64)> {
    names
        .iter()
        .map(|n| (Layer::parse(n).unwrap(), weight))
        .collect()
}

fn max_rel_diff(a: &Tensor, b: &Tensor) -> f64 {
    let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let scale = a.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
    let diff = a
        .iter()
        .zip(&b)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs())) as f64;
    diff / scale
}

#[test]
fn tiled_gradient_equals_untiled() {
    let model = common::random_model(DType::F32, 5);
    let content = image(1);
    let style = image(2);
    let x = image(3);
    let style_layers = layers(
        &["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"],
        100.0,
    );
    let content_layers = layers(&["relu4_2"], 5.0);
    // 32 divides neither side; 48 leaves a 16-px column; 64 a 48-px remainder.
    let cases = [
        (Pooling::Max, 32, false),
        (Pooling::Max, 64, false),
        (Pooling::Avg, 48, false),
        (Pooling::Max, 48, true),
    ];
    for (pooling, tile, normalize_gradients) in cases {
        let ls: Vec<Layer> = style_layers.iter().map(|l| l.0).collect();
        let acts = model.forward(&style, &ls, pooling).unwrap();
        let targets = StyleTargets::plain(
            ls.iter()
                .map(|&l| (l, stylefarm_engine::loss::gram(acts.get(l)).unwrap()))
                .collect(),
        );
        let terms = |tile| Terms {
            pooling,
            content_image: Some(&content),
            content_layers: &content_layers,
            style: &targets,
            style_layers: &style_layers,
            tv_weight: 1e-3,
            normalize_gradients,
            tileable: false,
            tile,
        };
        let whole = Objective::new(&model, terms(None), (W, H)).unwrap();
        assert_eq!(whole.tiles(), 1);
        let (lw, gw) = whole.evaluate(&x).unwrap();
        let tiled = Objective::new(&model, terms(Some(tile)), (W, H)).unwrap();
        assert!(tiled.tiles() > 1, "tile {tile}");
        let (lt, gt) = tiled.evaluate(&x).unwrap();
        let rel = max_rel_diff(&gw, &gt);
        assert!(
            rel < 1e-4,
            "{pooling:?} tile {tile} normalize {normalize_gradients}: gradient differs by {rel:e}"
        );
        for (a, b, what) in [
            (lw.content, lt.content, "content"),
            (lw.style, lt.style, "style"),
            (lw.total, lt.total, "total"),
        ] {
            assert!(
                (a - b).abs() <= 1e-4 * a.abs().max(1e-12),
                "{pooling:?} tile {tile}: {what} loss {a} vs {b}"
            );
        }
    }
}

#[test]
fn twenty_adam_iterations_tiled_and_untiled_end_within_rounding() {
    let model = Vgg19::load(&common::real_model_path(), &common::device(), DType::F32).unwrap();
    let load = |n: &str| Image::load(&common::example_image(n), 1 << 30).unwrap();
    let content = load("tubingen.jpg").resize(112, 84);
    let styles = [Style {
        image: load("starry_night.jpg").resize_long_side(112),
        weight: 1.0,
    }];
    let settings = Settings {
        size: 112,
        iterations: 20,
        seed: 3,
        init: Init::Content,
        optimizer: Optimizer::Adam { learning_rate: 1.0 },
        // Tiling's exactness, not TF32's rounding (CUDA's default) is tested.
        precision: Some(Precision::Fp32),
        ..Settings::default()
    };
    let mut tiles_seen = 0;
    let mut on_progress = |p: &stylefarm_engine::Progress| tiles_seen = p.tiles;
    let tiled_settings = Settings {
        tile: Some(48),
        ..settings.clone()
    };
    let tiled = render(
        &model,
        Some(&content),
        &styles,
        &tiled_settings,
        Hooks {
            progress: Some(&mut on_progress),
            ..Hooks::default()
        },
    )
    .unwrap();
    assert_eq!(tiles_seen, 2 * 3);
    let whole = render(&model, Some(&content), &styles, &settings, Hooks::default()).unwrap();
    let diff = |a: &Image, b: &Image| {
        a.data
            .iter()
            .zip(&b.data)
            .fold(0f32, |m, (x, y)| m.max((x - y).abs()))
    };
    // The gradients agree to rounding (tiled_gradient_equals_untiled); over
    // 20 Adam steps, which divide by √v, a component near 0 can turn a
    // rounding difference into a step of up to the learning rate (1 level),
    // so a few pixels may end 2 levels apart while the picture as a whole
    // stays within a tenth of a level (0.04 measured).
    let worst = diff(&whole, &tiled);
    let mean = whole
        .data
        .iter()
        .zip(&tiled.data)
        .map(|(x, y)| f64::from((x - y).abs()))
        .sum::<f64>()
        / whole.data.len() as f64;
    assert!(
        worst <= 3.0 / 255.0 && mean <= 0.1 / 255.0,
        "images differ by {} levels at most, {} on average",
        worst * 255.0,
        mean * 255.0
    );
    assert!(
        diff(&whole, &content) > 0.05,
        "the render barely changed the image"
    );
}

#[test]
fn tiled_style_grams_equal_whole_ones() {
    let model = common::random_model(DType::F32, 5);
    let style = common::picture(W, H, 6);
    let ls: Vec<Layer> = layers(&["relu1_1", "relu3_1", "relu5_1"], 1.0)
        .into_iter()
        .map(|l| l.0)
        .collect();
    let whole = StyleTargets::of_image(&model, &style, &ls, Pooling::Max).unwrap();
    let tiled = StyleTargets::of_image_tiled(&model, &style, &ls, Pooling::Max, Some(32)).unwrap();
    for ((la, a), (lb, b)) in whole.grams.iter().zip(&tiled.grams) {
        assert_eq!(la, lb);
        let rel = max_rel_diff(a, b);
        assert!(rel < 1e-4, "{}: {rel:e}", la.name());
    }
}

/// A region map over W×H: three vertical bands whose borders fall inside
/// tiles and on tile borders, drawn at another size than the image.
fn bands() -> Mask {
    let (w, h) = (37, 11);
    let labels = (0..w * h).map(|i| ((i % w) * 3 / w) as u8).collect();
    Mask::from_labels(w, h, vec![[255, 0, 0], [0, 255, 0], [0, 0, 255]], labels).unwrap()
}

#[test]
fn tiled_guided_gradient_and_targets_equal_untiled() {
    let model = common::random_model(DType::F32, 5);
    let content = image(1);
    let x = image(3);
    let style_layers = layers(
        &["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"],
        100.0,
    );
    let ls: Vec<Layer> = style_layers.iter().map(|l| l.0).collect();
    let style = common::picture(W, H, 6);
    let mask = bands();
    let whole =
        StyleTargets::of_image_guided(&model, &style, &mask, &ls, Pooling::Max, None).unwrap();
    let tiled =
        StyleTargets::of_image_guided(&model, &style, &mask, &ls, Pooling::Max, Some(32)).unwrap();
    assert_eq!(whole.regions.len(), 3);
    for (a, b) in whole.regions.iter().zip(&tiled.regions) {
        assert_eq!(a.colour, b.colour);
        for ((l, ga), (_, gb)) in a.grams.iter().zip(&b.grams) {
            let rel = max_rel_diff(ga, gb);
            assert!(rel < 1e-4, "{:?} {}: {rel:e}", a.colour, l.name());
        }
    }
    let content_layers = layers(&["relu4_2"], 5.0);
    for (tile, normalize_gradients) in [(32, false), (48, true)] {
        let terms = |tile| Terms {
            pooling: Pooling::Max,
            content_image: Some(&content),
            content_layers: &content_layers,
            style: &whole,
            style_layers: &style_layers,
            tv_weight: 1e-3,
            normalize_gradients,
            tileable: false,
            tile,
        };
        let (lw, gw) = Objective::guided(&model, terms(None), Some(&mask), (W, H))
            .unwrap()
            .evaluate(&x)
            .unwrap();
        let tiled = Objective::guided(&model, terms(Some(tile)), Some(&mask), (W, H)).unwrap();
        assert!(tiled.tiles() > 1);
        let (lt, gt) = tiled.evaluate(&x).unwrap();
        let rel = max_rel_diff(&gw, &gt);
        assert!(rel < 1e-4, "tile {tile}: gradient differs by {rel:e}");
        assert!(
            (lw.style - lt.style).abs() <= 1e-4 * lw.style,
            "tile {tile}: style loss {} vs {}",
            lw.style,
            lt.style
        );
    }
}
