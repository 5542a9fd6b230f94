//! Plausible specs: values drawn at random inside every rule, put together
//! as each kind of job needs (docs/jobs.md), so that they pass validation.

use super::*;

pub(crate) fn sane_label() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ×é_-]{0,20}"
}

/// `(width, height)` of a picture no thinner than 1:3, so that it keeps
/// 16 pixels on its short side at any size from 64 on.
pub(crate) fn sane_size() -> impl Strategy<Value = (u32, u32)> {
    (64u32..=2_000, 34u32..=300).prop_map(|(w, ratio)| (w, (w * ratio / 100).max(1)))
}

pub(crate) fn sane_layers(
    defaults: &'static [&'static str],
) -> impl Strategy<Value = Vec<LayerWeight>> {
    prop_oneof![
        2 => Just(defaults.iter().map(|l| LayerWeight::new(l)).collect()),
        1 => prop::collection::vec(
            (select(&VGG19_LAYERS[..]), 0.0f64..4.0).prop_map(|(l, weight)| LayerWeight {
                layer: l.into(),
                weight,
            }),
            1..6,
        ),
    ]
}

/// Settings that pass [`RenderSettings::validate`] in a job with content;
/// [`shape`] adjusts what depends on the kind.
pub(crate) fn sane_settings() -> BoxedStrategy<RenderSettings> {
    let numbers = (
        64u32..=1_024,
        1u32..=1_000,
        any::<u64>(),
        select(Optimizer::ALL),
        0.01f64..20.0,
        1u32..=200,
        (0.0f64..10.0, 0.0f64..1_000.0, 0.0f64..0.01),
        0.1f64..4.0,
        (any::<prop::sample::Index>(), any::<bool>()),
    );
    let names = (
        sane_layers(stylefarm_spec::names::DEFAULT_CONTENT_LAYERS),
        sane_layers(stylefarm_spec::names::DEFAULT_STYLE_LAYERS),
        select(Init::ALL),
        select(Pooling::ALL),
        select(OriginalColors::ALL),
        (0u32..3, prop::collection::btree_set(64u32..=1_024, 0..4)),
        prop_oneof![3 => Just(String::new()), 1 => "[a-z0-9._-]{1,20}"],
    );
    let extras = (
        any::<bool>(),
        any::<bool>(),
        prop::option::of((2u32..=32).prop_map(|t| t * 16)),
        prop::option::of(stylefarm_spec::limits::MIN_MEMORY..=u64::MAX),
        prop::option::of(0.001f64..0.5),
        1u32..=100,
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
                    (content_weight, style_weight, tv_weight),
                    style_scale,
                    (save_at, animation),
                ),
                (
                    content_layers,
                    style_layers,
                    init,
                    pooling,
                    original_colors,
                    (scales, coarse),
                    model,
                ),
                (
                    normalize_gradients,
                    tileable,
                    tile,
                    max_memory,
                    tol_loss_relative,
                    tol_window,
                    precision,
                ),
            )| {
                let save_every = save_at.index(iterations as usize + 1) as u32;
                RenderSettings {
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
                    init_key: (init == Init::Image).then(|| "inputs/init.png".into()),
                    pooling,
                    style_scale,
                    original_colors,
                    scales: match scales {
                        0 => Scales::Single,
                        1 => Scales::Auto,
                        _ => Scales::Explicit(
                            coarse
                                .into_iter()
                                .filter(|&s| s < size)
                                .chain([size])
                                .collect(),
                        ),
                    },
                    save_every,
                    animation: animation && save_every > 0,
                    texture: None,
                    normalize_gradients,
                    model,
                    tileable,
                    tile,
                    max_memory,
                    precision,
                    tol_loss_relative,
                    tol_window,
                }
            },
        )
        .boxed()
}

/// The random parts of a plausible spec, shaped by [`shape`].
#[derive(Debug, Clone)]
pub(crate) struct Parts {
    kind: JobKind,
    name: String,
    content: Picture,
    contents: Vec<Picture>,
    styles: Vec<StyleInput>,
    settings: RenderSettings,
    grid: Grid,
    tiles: FarmTiles,
    texture: (u32, u32),
    /// A region map: a semantic job, or a doodle without content.
    mask: Option<Picture>,
    video: VideoJob,
    /// Single jobs: a texture instead of a content photo.
    single_texture: bool,
    /// Textures: split into farm tiles.
    tiled_texture: bool,
}

pub(crate) fn sane_picture() -> BoxedStrategy<Picture> {
    (valid_key(), sane_label(), sane_size())
        .prop_map(|(key, name, size)| Picture {
            key,
            name,
            size: Some(size),
        })
        .boxed()
}

pub(crate) fn sane_video() -> BoxedStrategy<VideoJob> {
    (
        (
            valid_key(),
            sane_label(),
            prop::option::of(1.0f64..60.0),
            prop::option::of(0.0f64..100.0),
            prop::option::of(0.1f64..100.0),
            1u32..=50,
            0.0f64..2_000.0,
        ),
        (
            prop::option::of(1u32..=500),
            prop::collection::vec(select(VideoFormat::ALL), 0..3),
            1u32..=200,
            1.0f64..60.0,
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (key, name, fps, start, duration, keyframe_every, temporal_weight),
                (frame_iterations, formats, frames, rate, audio),
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
                frame_size: (0, 0),
                rate,
                audio,
            },
        )
        .boxed()
}

/// A spec of any kind that passes validation, its values drawn at random.
pub(crate) fn sane_spec() -> BoxedStrategy<JobSpec> {
    let parts = (
        (
            select(JobKind::ALL),
            sane_label(),
            sane_picture(),
            prop::collection::vec(sane_picture(), 1..5),
            prop::collection::vec(
                (valid_key(), 0.1f64..10.0, sane_label(), valid_key()),
                1..=4,
            ),
            sane_settings(),
        ),
        (
            (2u32..=8, select(GridAxis::ALL)).prop_map(|(steps, axis)| Grid { steps, axis }),
            (4u32..=32, any::<prop::sample::Index>()).prop_map(|(t, o)| FarmTiles {
                tile: t * 16,
                overlap: o.index(t as usize * 8 + 1) as u32,
            }),
            (16u32..=512, 16u32..=512),
            prop::option::of(sane_picture()),
            sane_video(),
            any::<bool>(),
            any::<bool>(),
        ),
    );
    parts
        .prop_map(
            |(
                (kind, name, content, contents, styles, settings),
                (grid, tiles, texture, mask, video, single_texture, tiled_texture),
            )| {
                shape(Parts {
                    kind,
                    name,
                    content,
                    contents,
                    styles: styles
                        .into_iter()
                        .map(|(key, weight, name, mask)| StyleInput {
                            key,
                            weight,
                            name,
                            mask: Some(mask),
                        })
                        .collect(),
                    settings,
                    grid,
                    tiles,
                    texture,
                    mask,
                    video,
                    single_texture,
                    tiled_texture,
                })
            },
        )
        .boxed()
}

/// Puts [`Parts`] together as a spec of their kind follows the rules of
/// that kind (docs/jobs.md).
pub(crate) fn shape(p: Parts) -> JobSpec {
    let mut spec = JobSpec::new(p.kind);
    spec.name = p.name;
    spec.styles = p.styles;
    spec.settings = p.settings;
    let mut texture = false;
    match p.kind {
        JobKind::Single if p.single_texture => texture = true,
        JobKind::Single => spec.content = Some(p.content),
        JobKind::Grid => {
            spec.content = Some(p.content);
            spec.grid = p.grid;
            if spec.grid.axis == GridAxis::Styles {
                let n = if spec.styles.len() >= 4 { 4 } else { 2 };
                spec.styles.resize(n, spec.styles[0].clone());
            }
        }
        JobKind::Gallery => spec.contents = p.contents,
        JobKind::Texture => {
            texture = true;
            if p.tiled_texture {
                spec.tiles = Some(p.tiles);
                spec.settings.tileable = false;
                spec.settings.scales = Scales::Single;
            }
        }
        JobKind::Highres => {
            spec.content = Some(p.content);
            spec.tiles = Some(p.tiles);
            spec.settings.scales = Scales::Single;
        }
        JobKind::Video => {
            let long = spec.settings.size & !1;
            spec.video = Some(VideoJob {
                frame_size: (long, (long / 4 * 3) & !1),
                ..p.video
            });
        }
    }
    if texture {
        spec.settings.texture = Some(p.texture);
        spec.settings.original_colors = OriginalColors::None;
        if let Scales::Explicit(s) = &mut spec.settings.scales {
            // Explicit scales of a texture end at the texture's long side.
            let long = p.texture.0.max(p.texture.1);
            s.retain(|&x| x < long);
            s.push(long);
            spec.settings.size = long;
        }
    }
    // Region maps in the kinds that take them; without content a doodle.
    let guided = matches!(
        p.kind,
        JobKind::Single | JobKind::Texture | JobKind::Highres
    );
    match p.mask {
        Some(mask) if guided => spec.content_mask = Some(mask),
        _ => spec.styles.iter_mut().for_each(|s| s.mask = None),
    }
    if spec.content.is_none() && spec.settings.init == Init::Content {
        spec.settings.init = Init::Noise;
    }
    if spec.content.is_none() && spec.content_mask.is_some() && !texture {
        // A doodle takes its aspect ratio: explicit scales would have to
        // fit it as well.
        spec.settings.scales = Scales::Single;
    }
    spec
}
