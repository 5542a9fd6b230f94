//! Resolved engine flags → the wire's `RenderSettings` (the farm's form of
//! the same settings). Input files are uploaded by the caller, which passes
//! their keys in.

use stylefarm_engine::colors::OriginalColors;
use stylefarm_engine::optim::Optimizer;
use stylefarm_engine::{Init, Pooling, Scales, Settings};
use stylefarm_proto::pb;

pub fn render_settings(
    s: &Settings,
    init_key: Option<&str>,
    animation: bool,
) -> pb::RenderSettings {
    let (optimizer, learning_rate, lbfgs_history) = match s.optimizer {
        Optimizer::Lbfgs {
            history,
            learning_rate,
        } => ("lbfgs", learning_rate, history as u32),
        Optimizer::Adam { learning_rate } => ("adam", learning_rate, 100),
    };
    let layers = |l: &[(String, f64)]| {
        l.iter()
            .map(|(n, w)| pb::LayerWeight {
                layer: n.clone(),
                weight: *w,
            })
            .collect()
    };
    let (init, init_input_key) = match (init_key, &s.init) {
        (Some(k), _) => ("image", k.to_string()),
        (None, Init::Content) => ("content", String::new()),
        (None, _) => ("noise", String::new()),
    };
    let (scales, multiscale) = match &s.scales {
        Scales::Single => (vec![], false),
        Scales::Explicit(v) => (v.iter().map(|&x| x as u32).collect(), false),
        Scales::Auto => (vec![], true),
    };
    let (texture_width, texture_height) = s.texture.map_or((0, 0), |(w, h)| (w as u32, h as u32));
    pb::RenderSettings {
        size: s.size as u32,
        iterations: s.iterations as u32,
        seed: s.seed,
        optimizer: optimizer.into(),
        learning_rate,
        lbfgs_history,
        content_weight: s.content_weight,
        style_weight: s.style_weight,
        tv_weight: s.tv_weight,
        content_layers: layers(&s.content_layers),
        style_layers: layers(&s.style_layers),
        init: init.into(),
        init_input_key,
        pooling: match s.pooling {
            Pooling::Max => "max",
            Pooling::Avg => "avg",
        }
        .into(),
        style_scale: s.style_scale,
        original_colors: match s.original_colors {
            OriginalColors::None => "none",
            OriginalColors::Luminance => "luminance",
            OriginalColors::Match => "match",
        }
        .into(),
        scales,
        multiscale,
        save_every: s.save_every as u32,
        animation,
        texture_width,
        texture_height,
        normalize_gradients: s.normalize_gradients,
        model: String::new(),
        tileable: s.tileable,
        tile: s.tile.map_or(0, |t| t as u32),
        max_memory: s.max_memory.unwrap_or(0),
    }
}
