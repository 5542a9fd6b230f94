//! Wild specs: every field drawn on its own, mostly plausible and
//! sometimes hostile (the shared hostile values of `stylefarm_fuzzing`).

use super::*;

/// Mostly a plausible value of `sane`, sometimes a wild one.
pub(crate) fn mostly_u32(sane: std::ops::RangeInclusive<u32>) -> impl Strategy<Value = u32> {
    prop_oneof![4 => sane, 1 => wild_u32()]
}

pub(crate) fn mostly_f64(sane: std::ops::Range<f64>) -> impl Strategy<Value = f64> {
    prop_oneof![4 => sane, 1 => wild_f64()]
}

pub(crate) fn valid_key() -> impl Strategy<Value = String> {
    "inputs/[0-9a-f]{8}\\.(png|jpg|webp|mp4)"
}

/// An input key: usually one the farm would have returned.
pub(crate) fn key() -> BoxedStrategy<String> {
    prop_oneof![6 => valid_key(), 1 => hostile_text()].boxed()
}

/// A free-text label.
pub(crate) fn label() -> BoxedStrategy<String> {
    prop_oneof![4 => "[a-zA-Z0-9 ×é_-]{0,20}", 1 => hostile_text()].boxed()
}

pub(crate) fn size() -> impl Strategy<Value = Option<(u32, u32)>> {
    prop_oneof![
        1 => Just(None),
        3 => (16u32..=2_000, 16u32..=2_000).prop_map(Some),
        1 => (wild_u32(), wild_u32()).prop_map(Some),
    ]
}

pub(crate) fn picture() -> BoxedStrategy<Picture> {
    (key(), label(), size())
        .prop_map(|(key, name, size)| Picture { key, name, size })
        .boxed()
}

pub(crate) fn style() -> BoxedStrategy<StyleInput> {
    (
        key(),
        mostly_f64(0.0..10.0),
        label(),
        prop::option::of(key()),
    )
        .prop_map(|(key, weight, name, mask)| StyleInput {
            key,
            weight,
            name,
            mask,
        })
        .boxed()
}

pub(crate) fn layers(defaults: &'static [&'static str]) -> impl Strategy<Value = Vec<LayerWeight>> {
    let layer = (
        prop_oneof![8 => select(&VGG19_LAYERS[..]).prop_map(String::from), 1 => hostile_text()],
        mostly_f64(0.0..4.0),
    )
        .prop_map(|(layer, weight)| LayerWeight { layer, weight });
    prop_oneof![
        3 => Just(defaults.iter().map(|l| LayerWeight::new(l)).collect()),
        2 => prop::collection::vec(layer, 0..6),
    ]
}

pub(crate) fn scales() -> impl Strategy<Value = Scales> {
    prop_oneof![
        4 => Just(Scales::Single),
        1 => Just(Scales::Auto),
        1 => prop::collection::vec(mostly_u32(16..=1_024), 0..6).prop_map(Scales::Explicit),
    ]
}

pub(crate) fn settings() -> BoxedStrategy<RenderSettings> {
    let numbers = (
        mostly_u32(16..=1_024),
        mostly_u32(1..=1_000),
        any::<u64>(),
        select(Optimizer::ALL),
        mostly_f64(0.01..20.0),
        mostly_u32(1..=200),
        mostly_f64(0.0..10.0),
        mostly_f64(0.0..1_000.0),
        mostly_f64(0.0..0.01),
        mostly_f64(0.1..4.0),
        prop_oneof![3 => Just(0u32), 1 => mostly_u32(1..=1_000)],
    );
    let names = (
        layers(stylefarm_spec::names::DEFAULT_CONTENT_LAYERS),
        layers(stylefarm_spec::names::DEFAULT_STYLE_LAYERS),
        select(Init::ALL),
        prop_oneof![3 => Just(None), 1 => key().prop_map(Some)],
        select(Pooling::ALL),
        select(OriginalColors::ALL),
        scales(),
        prop_oneof![4 => Just(String::new()), 1 => "[a-z0-9._-]{1,20}", 1 => hostile_text()],
    );
    let extras = (
        any::<bool>(),
        prop_oneof![3 => Just(None), 1 => (mostly_u32(16..=1_024), mostly_u32(16..=1_024)).prop_map(Some)],
        any::<bool>(),
        any::<bool>(),
        prop_oneof![3 => Just(None), 1 => mostly_u32(32..=512).prop_map(Some)],
        prop_oneof![3 => Just(None), 1 => prop_oneof![Just(0), Just(u64::MAX), any::<u64>()].prop_map(Some)],
        prop_oneof![3 => Just(None), 1 => mostly_f64(0.0..1.0).prop_map(Some)],
        mostly_u32(1..=100),
        prop::option::of(select(Precision::ALL)),
    );
    (numbers, names, extras)
        .prop_map(
            |(
                (
                    size,
                    iterations,
                    seed,
                    optimizer,
                    learning_rate,
                    lbfgs_history,
                    content_weight,
                    style_weight,
                    tv_weight,
                    style_scale,
                    save_every,
                ),
                (
                    content_layers,
                    style_layers,
                    init,
                    init_key,
                    pooling,
                    original_colors,
                    scales,
                    model,
                ),
                (
                    animation,
                    texture,
                    normalize_gradients,
                    tileable,
                    tile,
                    max_memory,
                    tol_loss_relative,
                    tol_window,
                    precision,
                ),
            )| RenderSettings {
                size,
                iterations,
                seed,
                optimizer,
                learning_rate,
                lbfgs_history,
                content_weight,
                style_weight,
                tv_weight,
                content_layers,
                style_layers,
                init,
                init_key,
                pooling,
                style_scale,
                original_colors,
                scales,
                save_every,
                animation,
                texture,
                normalize_gradients,
                model,
                tileable,
                tile,
                max_memory,
                precision,
                tol_loss_relative,
                tol_window,
            },
        )
        .boxed()
}

pub(crate) fn video() -> BoxedStrategy<VideoJob> {
    (
        (
            key(),
            label(),
            prop::option::of(mostly_f64(1.0..60.0)),
            prop::option::of(mostly_f64(0.0..100.0)),
            prop::option::of(mostly_f64(0.1..100.0)),
            mostly_u32(1..=50),
            mostly_f64(0.0..2_000.0),
        ),
        (
            prop::option::of(mostly_u32(1..=500)),
            prop::collection::vec(select(VideoFormat::ALL), 0..3),
            mostly_u32(1..=200),
            (mostly_u32(16..=1_024), mostly_u32(16..=1_024)),
            mostly_f64(1.0..60.0),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (key, name, fps, start, duration, keyframe_every, temporal_weight),
                (frame_iterations, formats, frames, frame_size, rate, audio),
            )| VideoJob {
                key,
                name,
                fps,
                start,
                duration,
                keyframe_every,
                temporal_weight,
                frame_iterations,
                formats,
                frames,
                frame_size,
                rate,
                audio,
            },
        )
        .boxed()
}

/// A job spec of any kind with every field drawn on its own: mostly
/// plausible values, sometimes hostile ones; rarely one that passes.
pub(crate) fn wild_spec() -> BoxedStrategy<JobSpec> {
    let shape = (
        label(),
        select(JobKind::ALL),
        prop_oneof![4 => Just(0), 1 => any::<i32>()],
        prop::option::of(picture()),
        prop_oneof![
            3 => prop::collection::vec(picture(), 0..4),
            // Many copies of one: galleries past their cell limit.
            1 => (picture(), 0usize..64).prop_map(|(p, n)| vec![p; n]),
        ],
        prop_oneof![
            4 => prop::collection::vec(style(), 1..=4),
            1 => (style(), 0usize..40).prop_map(|(s, n)| vec![s; n]),
        ],
    );
    let rest = (
        settings(),
        (mostly_u32(2..=8), select(GridAxis::ALL)).prop_map(|(steps, axis)| Grid { steps, axis }),
        prop::option::of(
            (
                prop_oneof![3 => (2u32..=32).prop_map(|t| t * 16), 1 => wild_u32()],
                mostly_u32(0..=64),
            )
                .prop_map(|(tile, overlap)| FarmTiles { tile, overlap }),
        ),
        prop_oneof![3 => Just(None), 1 => picture().prop_map(Some)],
        prop_oneof![2 => Just(None), 1 => video().prop_map(Some)],
        prop_oneof![3 => Just(None), 1 => mostly_u32(0..=20).prop_map(Some)],
    );
    (shape, rest)
        .prop_map(
            |(
                (name, kind, priority, content, contents, styles),
                (settings, grid, tiles, content_mask, video, batch),
            )| JobSpec {
                name,
                kind,
                priority,
                content,
                contents,
                styles,
                settings,
                grid,
                tiles,
                batch,
                content_mask,
                video,
            },
        )
        .boxed()
}
