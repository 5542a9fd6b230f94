//! Semantic style transfer and neural doodles at ≤ 64 px: each region takes
//! its own style, one region equals the unmasked render, guided targets
//! through safetensors give the same render, bad masks are clear errors and
//! masks of another size are resized.

mod common;

use stylefarm_engine::model::{Layer, Pooling};
use stylefarm_engine::{
    DType, Hooks, Image, Mask, Masks, Scales, Settings, Style, StyleTargets, Vgg19, render,
    render_guided, render_guided_with_targets,
};

const RED: [u8; 3] = [255, 0, 0];
const GREEN: [u8; 3] = [0, 200, 0];
const BLUE: [u8; 3] = [0, 0, 255];

/// `w × h`, the left `share` of the columns in `left`, the rest in `right`.
fn split(w: usize, h: usize, share: f64, left: [u8; 3], right: [u8; 3]) -> Mask {
    let cut = (w as f64 * share).round() as usize;
    let labels = (0..w * h).map(|i| u8::from(i % w >= cut)).collect();
    Mask::from_labels(w, h, vec![left, right], labels).unwrap()
}

fn quick(iterations: usize) -> Settings {
    Settings {
        size: 40,
        iterations,
        seed: 7,
        ..Settings::default()
    }
}

fn style(seed: u64, weight: f64) -> Style {
    Style {
        image: common::picture(48, 40, seed),
        weight,
    }
}

#[test]
fn a_one_region_mask_equals_the_unmasked_render() {
    let model = common::random_model(DType::F32, 11);
    let content = common::picture(48, 36, 1);
    let styles = [style(2, 1.0), style(5, 0.5)];
    let s = Settings {
        scales: Scales::Explicit(vec![24, 40]),
        ..quick(4)
    };
    let plain = render(&model, Some(&content), &styles, &s, Hooks::default()).unwrap();
    // Masks of other sizes than their images, and a style colour a few levels off.
    let masks = Masks {
        content: Mask::uniform(10, 7, RED),
        styles: vec![Mask::uniform(48, 40, RED), Mask::uniform(3, 3, [250, 6, 4])],
    };
    let guided = render_guided(
        &model,
        Some(&content),
        &styles,
        &masks,
        &s,
        Hooks::default(),
    )
    .unwrap();
    assert_eq!(plain, guided, "bit-identical");

    // A one-colour doodle is texture synthesis at the doodle's aspect ratio.
    let doodle = Masks {
        content: Mask::uniform(60, 40, BLUE),
        styles: vec![Mask::uniform(9, 9, BLUE)],
    };
    let s = Settings {
        size: 48,
        ..quick(4)
    };
    let from_doodle =
        render_guided(&model, None, &styles[..1], &doodle, &s, Hooks::default()).unwrap();
    let texture = Settings {
        texture: Some((48, 32)),
        ..s
    };
    let synthesised = render(&model, None, &styles[..1], &texture, Hooks::default()).unwrap();
    assert_eq!((from_doodle.width, from_doodle.height), (48, 32));
    assert_eq!(from_doodle, synthesised, "bit-identical");
}

/// `Σ_l mean((G − A)²) / mean(A²)` over the layers: how far a Gram set is
/// from another, each layer relative to the target's size.
fn distance(g: &[(Layer, candle_core::Tensor)], a: &[(Layer, candle_core::Tensor)]) -> f64 {
    g.iter()
        .zip(a)
        .map(|((_, g), (_, a))| {
            let d = (g - a).unwrap().sqr().unwrap().sum_all().unwrap();
            let n = a.sqr().unwrap().sum_all().unwrap();
            (d.to_scalar::<f32>().unwrap() / n.to_scalar::<f32>().unwrap()) as f64
        })
        .sum()
}

#[test]
fn two_regions_take_their_own_styles() {
    let model = Vgg19::load(&common::real_model_path(), &common::device(), DType::F32).unwrap();
    let load = |n: &str| {
        Image::load(&common::example_image(n), 1 << 30)
            .unwrap()
            .resize_long_side(64)
    };
    let styles = [
        Style {
            image: load("starry_night.jpg"),
            weight: 1.0,
        },
        Style {
            image: load("the_scream.jpg"),
            weight: 1.0,
        },
    ];
    // The left 40 % of the output is red (style A), the rest blue (style B).
    let output_mask = split(64, 40, 0.4, RED, BLUE);
    let masks = Masks {
        content: output_mask.clone(),
        styles: vec![Mask::uniform(8, 8, RED), Mask::uniform(8, 8, BLUE)],
    };
    let settings = Settings {
        size: 64,
        iterations: 60,
        seed: 1,
        ..Settings::default()
    };
    let content = load("tubingen.jpg").resize(64, 40);
    let layers = settings.style_layer_list().unwrap();
    let of = |img: &Image| StyleTargets::of_image(&model, img, &layers, Pooling::Max).unwrap();
    let (a, b) = (of(&styles[0].image), of(&styles[1].image));
    for (what, content) in [("doodle", None), ("content", Some(&content))] {
        let out = render_guided(
            &model,
            content,
            &styles,
            &masks,
            &settings,
            Hooks::default(),
        )
        .unwrap();
        assert_eq!((out.width, out.height), (64, 40), "{what}");
        let got =
            StyleTargets::of_image_guided(&model, &out, &output_mask, &layers, Pooling::Max, None)
                .unwrap();
        let (left, right) = (&got.regions[0], &got.regions[1]);
        assert_eq!((left.colour, right.colour), (RED, BLUE));
        let (la, lb) = (
            distance(&left.grams, &a.grams),
            distance(&left.grams, &b.grams),
        );
        let (ra, rb) = (
            distance(&right.grams, &a.grams),
            distance(&right.grams, &b.grams),
        );
        eprintln!(
            "{what}: left region to A {la:.3}, to B {lb:.3}; right region to A {ra:.3}, to B {rb:.3}"
        );
        assert!(
            la < lb,
            "{what}: left region {la} from its style A, {lb} from B"
        );
        assert!(
            rb < ra,
            "{what}: right region {rb} from its style B, {ra} from A"
        );
    }
}

#[test]
fn guided_targets_through_safetensors_give_the_same_render() {
    let model = common::random_model(DType::F32, 11);
    let content = common::picture(48, 36, 1);
    let styles = [style(2, 1.0), style(5, 0.5)];
    // Style 1 has red and green, style 2 green and blue: green blends both.
    let masks = Masks {
        content: Mask::from_labels(
            6,
            3,
            vec![RED, GREEN, BLUE],
            vec![0, 0, 1, 1, 2, 2, 0, 1, 1, 2, 2, 2, 0, 0, 0, 1, 2, 2],
        )
        .unwrap(),
        styles: vec![
            split(16, 16, 0.5, RED, GREEN),
            split(20, 10, 0.3, GREEN, BLUE),
        ],
    };
    let s = Settings {
        scales: Scales::Explicit(vec![24, 40]),
        ..quick(3)
    };
    let direct = render_guided(
        &model,
        Some(&content),
        &styles,
        &masks,
        &s,
        Hooks::default(),
    )
    .unwrap();
    // What a farm does: targets per scale, cached as safetensors.
    let per_scale = |styles: &[Style], style_masks: &[Mask]| -> Vec<StyleTargets> {
        let dims = s.scale_dims(Some(&content)).unwrap();
        dims.into_iter()
            .map(|d| {
                let t = StyleTargets::for_scale_guided(
                    &model,
                    styles,
                    style_masks,
                    Some(&content),
                    &s,
                    d,
                )
                .unwrap();
                let bytes = t.to_safetensors().unwrap();
                StyleTargets::from_safetensors(&bytes, model.device(), DType::F32).unwrap()
            })
            .collect()
    };
    let targets = per_scale(&styles, &masks.styles);
    assert!(targets.iter().all(|t| t.regions.len() == 3));
    let cached = render_guided_with_targets(
        &model,
        Some(&content),
        &masks.content,
        &targets,
        &s,
        Hooks::default(),
    )
    .unwrap();
    assert_eq!(direct, cached);
    let unguided = render(&model, Some(&content), &styles, &s, Hooks::default()).unwrap();
    assert_ne!(direct, unguided);

    // Cached targets without the green region cannot serve this content mask.
    let t = per_scale(&styles[..1], &[split(16, 16, 0.5, RED, BLUE)]);
    let err = render_guided_with_targets(
        &model,
        Some(&content),
        &masks.content,
        &t,
        &s,
        Hooks::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("#00c800"), "{err}");
}

#[test]
fn bad_masks_are_clear_errors() {
    let model = common::random_model(DType::F32, 11);
    let content = common::picture(32, 32, 1);
    let styles = [style(2, 1.0), style(5, 0.0)];
    let run = |masks: &Masks| {
        render_guided(
            &model,
            Some(&content),
            &styles,
            masks,
            &quick(1),
            Hooks::default(),
        )
        .unwrap_err()
        .to_string()
    };
    // Green is in no style mask.
    let err = run(&Masks {
        content: split(32, 32, 0.5, RED, GREEN),
        styles: vec![Mask::uniform(4, 4, RED), Mask::uniform(4, 4, BLUE)],
    });
    assert!(
        err.contains("region #00c800") && err.contains("in no style mask"),
        "{err}"
    );
    // Blue only in a style of weight 0.
    let err = run(&Masks {
        content: split(32, 32, 0.5, RED, BLUE),
        styles: vec![Mask::uniform(4, 4, RED), Mask::uniform(4, 4, BLUE)],
    });
    assert!(
        err.contains("#0000ff") && err.contains("weight > 0"),
        "{err}"
    );
    // One mask for two styles.
    let err = run(&Masks {
        content: Mask::uniform(4, 4, RED),
        styles: vec![Mask::uniform(4, 4, RED)],
    });
    assert!(err.contains("1 given for 2 styles"), "{err}");
    // Unreadable files name themselves.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("doodle.png");
    std::fs::write(&path, b"\x89PNG\r\n\x1a\n truncated").unwrap();
    let err = Mask::load(&path, 1 << 20).unwrap_err().to_string();
    assert!(
        err.contains(&path.display().to_string()) && err.contains("incomplete or corrupt"),
        "{err}"
    );
}

#[test]
fn a_mask_of_another_size_is_resized() {
    let model = common::random_model(DType::F32, 11);
    let content = common::picture(48, 36, 1);
    let styles = [style(2, 1.0), style(9, 1.0)];
    let s = quick(4);
    let style_masks = vec![Mask::uniform(5, 5, RED), Mask::uniform(7, 3, BLUE)];
    // The same left/right map drawn at the output's 40×30 and at 8×6.
    let at = |w, h| Masks {
        content: split(w, h, 0.5, RED, BLUE),
        styles: style_masks.clone(),
    };
    let exact = render_guided(
        &model,
        Some(&content),
        &styles,
        &at(40, 30),
        &s,
        Hooks::default(),
    )
    .unwrap();
    let small = render_guided(
        &model,
        Some(&content),
        &styles,
        &at(8, 6),
        &s,
        Hooks::default(),
    )
    .unwrap();
    assert_eq!((small.width, small.height), (40, 30));
    let worst = exact
        .data
        .iter()
        .zip(&small.data)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(worst <= 1.0 / 255.0, "differ by {} levels", worst * 255.0);
    // A map of another aspect ratio is stretched, not refused.
    let wide = render_guided(
        &model,
        Some(&content),
        &styles,
        &at(30, 5),
        &s,
        Hooks::default(),
    )
    .unwrap();
    assert_eq!((wide.width, wide.height), (40, 30));
}
