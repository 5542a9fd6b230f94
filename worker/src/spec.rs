//! Wire settings (`pb::RenderSettings`) → the engine's `Settings`. The
//! coordinator validated them at submit; the engine validates them again.

use stylefarm_engine::colors::OriginalColors;
use stylefarm_engine::optim::Optimizer;
use stylefarm_engine::{Init, Pooling, Scales, Settings};
use stylefarm_proto::pb;

use crate::error::WorkerError;

/// The engine settings of a task; `Init::Image` is filled in by the caller
/// once the init image is fetched.
pub(crate) fn settings(s: &pb::RenderSettings) -> Result<Settings, WorkerError> {
    let bad = |what: String| WorkerError::BadTask(what);
    let optimizer = match s.optimizer.as_str() {
        "lbfgs" | "" => Optimizer::Lbfgs {
            history: s.lbfgs_history as usize,
            learning_rate: s.learning_rate,
        },
        "adam" => Optimizer::Adam {
            learning_rate: s.learning_rate,
        },
        other => return Err(bad(format!("unknown optimizer '{other}'"))),
    };
    let init = match s.init.as_str() {
        "noise" | "" => Init::Noise,
        "content" => Init::Content,
        "image" => Init::Noise, // replaced by the fetched image
        other => return Err(bad(format!("unknown init '{other}'"))),
    };
    let pooling = match s.pooling.as_str() {
        "max" | "" => Pooling::Max,
        "avg" => Pooling::Avg,
        other => return Err(bad(format!("unknown pooling '{other}'"))),
    };
    let original_colors = match s.original_colors.as_str() {
        "none" | "" => OriginalColors::None,
        "luminance" => OriginalColors::Luminance,
        "match" => OriginalColors::Match,
        other => return Err(bad(format!("unknown original_colors '{other}'"))),
    };
    let scales = if !s.scales.is_empty() {
        Scales::Explicit(s.scales.iter().map(|&v| v as usize).collect())
    } else if s.multiscale {
        Scales::Auto
    } else {
        Scales::Single
    };
    let texture = (s.texture_width > 0 && s.texture_height > 0)
        .then_some((s.texture_width as usize, s.texture_height as usize));
    let layers = |l: &[pb::LayerWeight]| l.iter().map(|l| (l.layer.clone(), l.weight)).collect();
    Ok(Settings {
        size: s.size as usize,
        iterations: s.iterations as usize,
        seed: s.seed,
        optimizer,
        content_weight: s.content_weight,
        style_weight: s.style_weight,
        tv_weight: s.tv_weight,
        content_layers: layers(&s.content_layers),
        style_layers: layers(&s.style_layers),
        init,
        pooling,
        style_scale: s.style_scale,
        original_colors,
        scales,
        save_every: s.save_every as usize,
        normalize_gradients: s.normalize_gradients,
        texture,
        tileable: s.tileable,
        tile: (s.tile > 0).then_some(s.tile as usize),
        max_memory: (s.max_memory > 0).then_some(s.max_memory),
    })
}
