//! The whole objective's gradient against central finite differences, in f64,
//! through every loss layer, both poolings and odd sizes, with and without
//! guided Grams (semantic style transfer).

mod common;

use candle_core::Tensor;
use stylefarm_engine::model::{Layer, Pooling};
use stylefarm_engine::objective::{Objective, Terms};
use stylefarm_engine::targets::StyleTargets;
use stylefarm_engine::{DType, Mask};

fn check_pooling(pooling: Pooling, normalize: bool) {
    check(pooling, normalize, false, false)
}

/// With `guided`, semantic style transfer: three regions whose maps are soft
/// at every layer (a 7×5 label map stretched over 18×21), against a blend of
/// two styles whose masks have two of the three regions each.
fn check(pooling: Pooling, normalize: bool, tileable: bool, guided: bool) {
    let model = common::random_model(DType::F64, 1);
    let (h, w) = (21, 18);
    let mut r = common::lcg(2);
    let rand = |r: &mut dyn FnMut() -> f64, scale: f64| {
        let v: Vec<f64> = (0..3 * h * w).map(|_| r() * scale).collect();
        Tensor::from_vec(v, (3, h, w), &common::device()).unwrap()
    };
    let content = rand(&mut r, 1.0);
    let style_img = rand(&mut r, 1.0);
    let x = rand(&mut r, 1.0);
    let style_layers: Vec<(Layer, f64)> = [
        "relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1", "pool2", "conv3_2",
    ]
    .iter()
    .map(|n| (Layer::parse(n).unwrap(), 100.0))
    .collect();
    let content_layers = vec![
        (Layer::parse("relu4_2").unwrap(), 5.0),
        (Layer::parse("conv1_2").unwrap(), 0.5),
    ];
    let layers: Vec<Layer> = style_layers.iter().map(|(l, _)| *l).collect();
    let (red, green, blue) = ([255, 0, 0], [0, 255, 0], [0, 0, 255]);
    let (targets, guide) = if guided {
        let labels: Vec<u8> = (0..7 * 5).map(|i| ((i % 7) * 3 / 7) as u8).collect();
        let content_mask = Mask::from_labels(7, 5, vec![red, green, blue], labels).unwrap();
        let halves: Vec<u8> = (0..4 * 4).map(|i| u8::from(i >= 8)).collect();
        let target = |seed, colours| {
            let mask = Mask::from_labels(4, 4, colours, halves.clone()).unwrap();
            let style = common::picture(20, 16, seed);
            StyleTargets::of_image_guided(&model, &style, &mask, &layers, pooling, None).unwrap()
        };
        let (a, b) = (target(5, vec![red, blue]), target(6, vec![green, red]));
        let targets = StyleTargets::blend(&[(&a, 1.0), (&b, 0.5)]).unwrap();
        assert_eq!(targets.regions.len(), 3);
        (targets, Some(content_mask))
    } else {
        let acts = model.forward(&style_img, &layers, pooling).unwrap();
        let grams = layers
            .iter()
            .map(|&l| (l, stylefarm_engine::loss::gram(acts.get(l)).unwrap()))
            .collect();
        (StyleTargets::plain(grams), None)
    };
    let obj = Objective::guided(
        &model,
        Terms {
            pooling,
            content_image: Some(&content),
            content_layers: &content_layers,
            style: &targets,
            style_layers: &style_layers,
            tv_weight: 1e-3,
            normalize_gradients: normalize,
            tileable,
            tile: None,
        },
        guide.as_ref(),
        (w, h),
    )
    .unwrap();
    let what = format!("{pooling:?} guided {guided}");
    assert_matches_finite_differences(&obj, &x, normalize, &what);
}

/// The objective's gradient at 24 elements of `x` against central differences
/// (with `normalize`, only finiteness: normalised gradients are no loss's gradient).
fn assert_matches_finite_differences(obj: &Objective, x: &Tensor, normalize: bool, what: &str) {
    let (_, h, w) = x.dims3().unwrap();
    let (_, grad) = obj.evaluate(x).unwrap();
    let xv = x.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let gv = grad.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let gmax = gv.iter().fold(0f64, |m, g| m.max(g.abs()));
    let mut pick = common::lcg(3);
    for _ in 0..24 {
        let i = ((pick() + 1.0) / 2.0 * (xv.len() - 1) as f64) as usize;
        let eps = 1e-5;
        let at = |d: f64| {
            let mut v = xv.clone();
            v[i] += d;
            obj.evaluate(&Tensor::from_vec(v, (3, h, w), &common::device()).unwrap())
                .unwrap()
                .0
                .total
        };
        let fd = (at(eps) - at(-eps)) / (2.0 * eps);
        if normalize {
            // Normalised gradients are not the loss's gradient; only check they are finite.
            assert!(gv[i].is_finite());
        } else {
            assert!(
                (fd - gv[i]).abs() <= 1e-6 * gmax + 1e-6 * fd.abs(),
                "{what} element {i}: finite difference {fd}, gradient {} (max |g| {gmax})",
                gv[i]
            );
        }
    }
}

#[test]
fn guided_loss_gradient_max_pooling() {
    check(Pooling::Max, false, false, true);
}

#[test]
fn guided_loss_gradient_avg_pooling_circular() {
    check(Pooling::Avg, false, true, true);
}

#[test]
fn whole_loss_gradient_max_pooling() {
    check_pooling(Pooling::Max, false);
}

#[test]
fn whole_loss_gradient_avg_pooling() {
    check_pooling(Pooling::Avg, false);
}

#[test]
fn whole_loss_gradient_circular_padding() {
    check(Pooling::Max, false, true, false);
}

#[test]
fn normalized_gradients_are_finite() {
    check_pooling(Pooling::Max, true);
}

#[test]
fn tv_gradient_matches_finite_differences() {
    tv_check(stylefarm_engine::loss::total_variation);
    tv_check(stylefarm_engine::loss::total_variation_circular);
}

type TvFn = fn(&Tensor, f64) -> stylefarm_engine::Result<(f64, Tensor)>;

fn tv_check(tv: TvFn) {
    let mut r = common::lcg(9);
    let (h, w) = (5, 7);
    let v: Vec<f64> = (0..3 * h * w).map(|_| r()).collect();
    let x = Tensor::from_vec(v.clone(), (3, h, w), &common::device()).unwrap();
    let (_, g) = tv(&x, 0.7).unwrap();
    let g = g.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    for i in 0..v.len() {
        let at = |d: f64| {
            let mut p = v.clone();
            p[i] += d;
            tv(
                &Tensor::from_vec(p, (3, h, w), &common::device()).unwrap(),
                0.7,
            )
            .unwrap()
            .0
        };
        let fd = (at(1e-6) - at(-1e-6)) / 2e-6;
        assert!((fd - g[i]).abs() < 1e-6, "element {i}: {fd} vs {}", g[i]);
    }
}
