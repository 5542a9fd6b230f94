//! Batched renders (`render_batch`) against the same pictures rendered one
//! at a time, with the real VGG-19 at 48 px. On the CPU a batch computes
//! each picture with the very kernels of its own render, so the pictures
//! must come out the same to the last bit; under
//! `STYLEFARM_TEST_DEVICE=cuda:0` the batched convolutions may sum in
//! another order, and the pictures must agree within a tolerance.

mod common;

use stylefarm_engine::batch::{BatchHooks, BatchPicture, render_batch};
use stylefarm_engine::optim::Optimizer;
use stylefarm_engine::{
    EngineError, Hooks, Image, Init, Progress, Scales, Settings, Style, StyleTargets, Vgg19,
    render_with_targets,
};

use common::{example as load, real_model as model};

fn settings(iterations: usize) -> Settings {
    Settings {
        size: 48,
        iterations,
        // Two scales: the second starts from the first's pictures.
        scales: Scales::Explicit(vec![32, 48]),
        ..Default::default()
    }
}

/// The targets of each scale of `settings`, for `style`.
fn targets(
    model: &Vgg19,
    style: &Image,
    content: &Image,
    settings: &Settings,
) -> Vec<StyleTargets> {
    let styles = [Style {
        image: style.clone(),
        weight: 1.0,
    }];
    settings
        .scale_dims(Some(content))
        .unwrap()
        .into_iter()
        .map(|dims| StyleTargets::for_scale(model, &styles, Some(content), settings, dims).unwrap())
        .collect()
}

/// Largest difference between two pictures, in levels of 0..255.
fn max_levels(a: &Image, b: &Image) -> f32 {
    assert_eq!((a.width, a.height), (b.width, b.height));
    a.data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| (x - y).abs() * 255.0)
        .fold(0.0, f32::max)
}

#[test]
fn a_batch_renders_each_picture_as_it_renders_alone() {
    let model = model();
    let content = load("tubingen.jpg", 48);
    let starry = load("starry_night.jpg", 48);
    let scream = load("the_scream.jpg", 48);
    // Three pictures that share nothing but their size: other styles,
    // weights, seeds, optimisers and iteration counts. The third leaves the
    // batch after 4 iterations of each scale.
    let a = settings(8);
    let b = Settings {
        style_weight: 1000.0,
        seed: 7,
        ..settings(8)
    };
    let c = Settings {
        optimizer: Optimizer::Adam { learning_rate: 2.0 },
        init: Init::Content,
        tv_weight: 0.0,
        ..settings(4)
    };
    let ta = targets(&model, &starry, &content, &a);
    let tb = targets(&model, &scream, &content, &b);
    let tc = targets(&model, &starry, &content, &c);
    let pictures = [
        BatchPicture {
            content: Some(&content),
            targets: &ta,
            settings: &a,
        },
        BatchPicture {
            content: Some(&content),
            targets: &tb,
            settings: &b,
        },
        BatchPicture {
            content: Some(&content),
            targets: &tc,
            settings: &c,
        },
    ];
    let mut reports = [0usize; 3];
    let mut last = [None::<Progress>; 3];
    let mut progress = |i: usize, p: &Progress| {
        reports[i] += 1;
        last[i] = Some(*p);
    };
    let batch = render_batch(
        &model,
        &pictures,
        BatchHooks {
            progress: Some(&mut progress),
            cancel: None,
        },
    )
    .unwrap();
    assert_eq!(
        reports,
        [16, 16, 8],
        "each picture reports its own iterations"
    );
    let c_last = last[2].unwrap();
    assert_eq!((c_last.scale, c_last.iteration, c_last.width), (1, 4, 48));

    let on_cpu = common::device().is_cpu();
    for (i, p) in pictures.iter().enumerate() {
        let mut own_last = None;
        let mut progress = |q: &Progress| own_last = Some(*q);
        let hooks = Hooks {
            progress: Some(&mut progress),
            ..Default::default()
        };
        let alone = render_with_targets(&model, p.content, p.targets, p.settings, hooks).unwrap();
        let (mine, theirs) = (
            last[i].unwrap().losses.total,
            own_last.unwrap().losses.total,
        );
        let levels = max_levels(&batch[i], &alone);
        if on_cpu {
            assert_eq!(mine, theirs, "picture {i}: the same losses on the CPU");
            assert_eq!(levels, 0.0, "picture {i}: the same pixels on the CPU");
        } else {
            // The batched convolutions sum in another order: the last loss
            // within 1 %, no pixel more than 8 levels off.
            assert!(
                (mine - theirs).abs() <= 1e-2 * theirs,
                "picture {i}: {mine} vs {theirs}"
            );
            assert!(levels <= 8.0, "picture {i}: {levels} levels apart");
        }
    }
    // The three renders are not one another's: the test can tell them apart.
    assert!(max_levels(&batch[0], &batch[1]) > 8.0);
}

#[test]
fn pictures_that_cannot_share_passes_are_refused_with_the_reason() {
    let model = model();
    let content = load("tubingen.jpg", 48);
    let starry = load("starry_night.jpg", 48);
    let a = settings(1);
    let ta = targets(&model, &starry, &content, &a);
    let small = Settings {
        scales: Scales::Explicit(vec![32, 40]),
        size: 40,
        ..settings(1)
    };
    let ts = targets(&model, &starry, &content, &small);
    let picture = |s, t| BatchPicture {
        content: Some(&content),
        targets: t,
        settings: s,
    };
    let e = render_batch(
        &model,
        &[picture(&a, &ta), picture(&small, &ts)],
        BatchHooks::default(),
    )
    .unwrap_err();
    assert!(matches!(e, EngineError::NotBatchable { .. }), "{e}");
    assert!(e.to_string().contains("picture 2 has scales"), "{e}");

    // The smallest budget (to 1 MiB) that holds one picture untiled, by
    // bisection with batches of one: a render alone fits it whole, a batch
    // of two does not.
    let one = Settings {
        scales: Scales::Single,
        ..settings(1)
    };
    let t1 = targets(&model, &starry, &content, &one);
    let with_budget = |mib: u64| Settings {
        max_memory: Some(mib << 20),
        ..one.clone()
    };
    let fits = |mib: u64| {
        let s = with_budget(mib);
        let only = BatchPicture {
            content: Some(&content),
            targets: &t1,
            settings: &s,
        };
        render_batch(&model, &[only], BatchHooks::default()).is_ok()
    };
    let (mut lo, mut hi) = (64, 1 << 14);
    assert!(fits(hi) && !fits(lo));
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if fits(mid) { hi = mid } else { lo = mid }
    }
    let tight = with_budget(hi);
    let mut tiles = 0;
    let mut progress = |p: &Progress| tiles = p.tiles;
    let hooks = Hooks {
        progress: Some(&mut progress),
        ..Default::default()
    };
    render_with_targets(&model, Some(&content), &t1, &tight, hooks).unwrap();
    assert_eq!(tiles, 1, "alone, the picture renders whole in {hi} MiB");
    let e = render_batch(
        &model,
        &[picture(&tight, &t1), picture(&tight, &t1)],
        BatchHooks::default(),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("need about") && e.to_string().contains("one at a time"),
        "{e}"
    );

    // Two scales in that budget: both pictures fit together at the first,
    // smaller scale but not at the second, and the batch is refused before
    // it renders anything (no iteration reported).
    let two_scales = Settings {
        max_memory: tight.max_memory,
        ..settings(1)
    };
    let dims = two_scales.scale_dims(Some(&content)).unwrap();
    let (first, last) = (dims[0], dims[1]);
    assert!(first.0 * first.1 * 2 < last.0 * last.1, "{dims:?}");
    let t2 = targets(&model, &starry, &content, &two_scales);
    let mut reported = 0;
    let mut progress = |_: usize, _: &Progress| reported += 1;
    let e = render_batch(
        &model,
        &[picture(&two_scales, &t2), picture(&two_scales, &t2)],
        BatchHooks {
            progress: Some(&mut progress),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, EngineError::NotBatchable { .. }), "{e}");
    assert!(e.to_string().contains("need about"), "{e}");
    assert_eq!(reported, 0, "refused before the first scale");
}
