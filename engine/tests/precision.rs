//! The network at tf32 and bf16 against fp32 (`Vgg19::with_precision`), with
//! the real VGG-19 at 64 px: one gradient, then whole renders. On the CPU
//! these run the emulation (mantissas rounded, f32 sums); under
//! `STYLEFARM_TEST_DEVICE=cuda:0` the GPU's own TF32 and bf16.

mod common;

use candle_core::Tensor;
use stylefarm_engine::model::Layer;
use stylefarm_engine::objective::{Losses, Objective, Terms};
use stylefarm_engine::optim::Optimizer;
use stylefarm_engine::targets::StyleTargets;
use stylefarm_engine::{
    DType, Hooks, Init, Pooling, Precision, Progress, Settings, Style, Vgg19, render,
};

use common::{example as load, real_model as model};

/// cos of the angle between two gradients.
fn cosine(a: &Tensor, b: &Tensor) -> f64 {
    let a = a.flatten_all().unwrap().to_dtype(DType::F64).unwrap();
    let b = b.flatten_all().unwrap().to_dtype(DType::F64).unwrap();
    let dot = (&a * &b)
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    let norm = |t: &Tensor| {
        t.sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
            .sqrt()
    };
    dot / (norm(&a) * norm(&b))
}

fn relative(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

/// Losses and gradient of the default objective at a noisy picture, at
/// `precision`, with style targets from the fp32 model (as renders do).
fn evaluate(base: &Vgg19, precision: Precision) -> (Losses, Tensor) {
    let pre = *base.preprocess();
    let (dev, dtype) = (base.device().clone(), base.dtype());
    let content = load("tubingen.jpg", 64);
    let (w, h) = (content.width, content.height);
    let style_layers: Vec<(Layer, f64)> = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
        .iter()
        .map(|n| (Layer::parse(n).unwrap(), 100.0))
        .collect();
    let layers: Vec<Layer> = style_layers.iter().map(|l| l.0).collect();
    let style = load("starry_night.jpg", 64);
    let targets = StyleTargets::of_image(base, &style, &layers, Pooling::Max).unwrap();
    let content_x = content.to_input(&pre, &dev, dtype).unwrap();
    let net = base.with_precision(precision).unwrap();
    assert_eq!(net.precision(), precision);
    let objective = Objective::new(
        &net,
        Terms {
            pooling: Pooling::Max,
            content_image: Some(&content_x),
            content_layers: &[(Layer::parse("relu4_2").unwrap(), 5.0)],
            style: &targets,
            style_layers: &style_layers,
            tv_weight: 1e-3,
            normalize_gradients: false,
            tileable: false,
            tile: None,
        },
        (w, h),
    )
    .unwrap();
    // Halfway between the content and grey: every loss term well away from 0.
    let x = (content_x * 0.5).unwrap();
    let (losses, grad) = objective.evaluate(&x).unwrap();
    assert_eq!(
        grad.dtype(),
        dtype,
        "the gradient leaves in the model's dtype"
    );
    (losses, grad)
}

#[test]
fn one_gradient_at_tf32_and_bf16_is_fp32s_within_the_formats_precision() {
    let base = model();
    let (l32, g32) = evaluate(&base, Precision::Fp32);
    // Tolerances: TF32 keeps 10 mantissa bits (relative rounding 2⁻¹¹ ≈ 5e-4)
    // on the convolutions' inputs, bf16 7 bits (2⁻⁸ ≈ 4e-3) on every stored
    // tensor. Measured on the CPU emulation: loss terms within 4.1e-4 (tf32)
    // and 1.7e-3 (bf16) of fp32's, gradient cosines 0.99967 and 0.9959.
    for (precision, loss_tol, min_cosine) in [
        (Precision::Tf32, 2e-3, 0.999),
        (Precision::Bf16, 1e-2, 0.99),
    ] {
        let (l, g) = evaluate(&base, precision);
        eprintln!(
            "{precision}: content {:.3e} style {:.3e} total {:.3e} (fp32 {:.3e} {:.3e} {:.3e}), cosine {:.6}",
            relative(l.content, l32.content),
            relative(l.style, l32.style),
            relative(l.total, l32.total),
            l32.content,
            l32.style,
            l32.total,
            cosine(&g, &g32)
        );
        for (term, a, b) in [
            ("content", l.content, l32.content),
            ("style", l.style, l32.style),
            ("total", l.total, l32.total),
        ] {
            assert!(
                relative(a, b) <= loss_tol,
                "{precision}: {term} loss {a} against fp32's {b}"
            );
        }
        let c = cosine(&g, &g32);
        assert!(
            c >= min_cosine,
            "{precision}: gradient cosine {c} to fp32's"
        );
        // Not fp32 under another name: the format really is shorter.
        let diff = (&g - &g32).unwrap().abs().unwrap().max_all().unwrap();
        assert!(
            diff.to_scalar::<f32>().unwrap() > 0.0,
            "{precision}: bit-identical to fp32"
        );
    }
    // fp32 asked of an fp32 model is that model.
    let (again, g_again) = evaluate(&base, Precision::Fp32);
    assert_eq!(again, l32);
    assert_eq!(
        g_again.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        g32.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    );
}

/// The first and last losses of a 100-iteration, 64-px L-BFGS render from
/// the content.
fn losses(base: &Vgg19, precision: Option<Precision>) -> (Losses, Losses) {
    let content = load("tubingen.jpg", 64);
    let styles = [Style {
        image: load("starry_night.jpg", 64),
        weight: 1.0,
    }];
    let settings = Settings {
        size: 64,
        iterations: 100,
        init: Init::Content,
        optimizer: Optimizer::Lbfgs {
            history: 100,
            learning_rate: 1.0,
        },
        precision,
        ..Settings::default()
    };
    let mut seen = Vec::new();
    let mut on_progress = |p: &Progress| seen.push(p.losses);
    let hooks = Hooks {
        progress: Some(&mut on_progress),
        ..Hooks::default()
    };
    render(base, Some(&content), &styles, &settings, hooks).unwrap();
    (seen[0], seen[seen.len() - 1])
}

#[test]
fn renders_at_tf32_and_bf16_end_within_tolerance_of_fp32() {
    let base = model();
    let (first, fp32) = losses(&base, Some(Precision::Fp32));
    assert!(
        fp32.total < 0.1 * first.total,
        "the fp32 render barely lowered the loss: {} → {}",
        first.total,
        fp32.total
    );
    // Tolerance: rounding moves L-BFGS's path, not where it leads. Measured on
    // the CPU emulation after 100 iterations: tf32 0.03 % above fp32; bf16
    // 4.6 %, since its noisier first gradients hold L-BFGS on a plateau for
    // a few iterations (bf16 at 100 ≈ fp32 at 92). Allowed: 1 % and 10 %.
    for (precision, tol) in [(Precision::Tf32, 0.01), (Precision::Bf16, 0.10)] {
        let (_, l) = losses(&base, Some(precision));
        eprintln!(
            "{precision}: final total {:.6e}, fp32 {:.6e}, start {:.6e}: {:.3} %",
            l.total,
            fp32.total,
            first.total,
            100.0 * relative(l.total, fp32.total)
        );
        assert!(
            relative(l.total, fp32.total) <= tol,
            "{precision}: final loss {} against fp32's {} ({:.2} %)",
            l.total,
            fp32.total,
            100.0 * relative(l.total, fp32.total)
        );
    }
    // No precision asked: the device's default.
    let default = losses(&base, None);
    let expect = losses(
        &base,
        Some(stylefarm_engine::default_precision(base.device())),
    );
    assert_eq!(default, expect);
}

#[test]
fn shorter_formats_need_an_f32_model() {
    let base = common::random_model(DType::F64, 1);
    let err = base
        .with_precision(Precision::Bf16)
        .unwrap_err()
        .to_string();
    assert!(err.contains("bf16 needs an f32 model"), "{err}");
    assert_eq!(
        base.with_precision(Precision::Fp32).unwrap().precision(),
        Precision::Fp32
    );
}
