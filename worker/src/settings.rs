//! A job's render settings (`stylefarm_spec::RenderSettings`) → the engine's
//! `Settings`. Both sides use the same names and limits (`stylefarm_spec`),
//! so this is a field-by-field copy; the engine checks the values again.

use stylefarm_engine::optim::Optimizer;
use stylefarm_engine::{Init, Scales, Settings};
use stylefarm_spec::{Init as InitKind, RenderSettings, Scales as SpecScales};

/// The engine settings of a task. `Init::Image` is filled in by the caller
/// once the init picture is fetched and decoded; until then it is noise.
pub fn engine_settings(s: &RenderSettings) -> Settings {
    let optimizer = match s.optimizer {
        stylefarm_spec::Optimizer::Lbfgs => Optimizer::Lbfgs {
            history: s.lbfgs_history as usize,
            learning_rate: s.learning_rate,
        },
        stylefarm_spec::Optimizer::Adam => Optimizer::Adam {
            learning_rate: s.learning_rate,
        },
    };
    let init = match s.init {
        InitKind::Noise | InitKind::Image => Init::Noise,
        InitKind::Content => Init::Content,
    };
    let scales = match &s.scales {
        SpecScales::Single => Scales::Single,
        SpecScales::Explicit(v) => Scales::Explicit(v.iter().map(|&v| v as usize).collect()),
        SpecScales::Auto => Scales::Auto,
    };
    let layers =
        |l: &[stylefarm_spec::LayerWeight]| l.iter().map(|l| (l.layer.clone(), l.weight)).collect();
    Settings {
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
        pooling: s.pooling,
        style_scale: s.style_scale,
        original_colors: s.original_colors,
        scales,
        save_every: s.save_every as usize,
        normalize_gradients: s.normalize_gradients,
        texture: s.texture.map(|(w, h)| (w as usize, h as usize)),
        tileable: s.tileable,
        tile: s.tile.map(|t| t as usize),
        max_memory: s.max_memory,
        precision: s.precision,
        tol_loss_relative: s.tol_loss_relative,
        tol_window: s.tol_window as usize,
        // Not a job's setting: each device's own default.
        read_losses_every: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_engines() {
        let s = engine_settings(&RenderSettings::default());
        assert_eq!(s, Settings::default());
    }
}
