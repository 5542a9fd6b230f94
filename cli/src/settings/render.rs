//! [`RenderLayer`]: every engine control as one all-optional layer, the same
//! type for the flags, the config's `[render]` table and a job file's
//! `[render]` table; [`RenderLayer::resolve`] turns the merged layer into the
//! job's `RenderSettings`. Names follow jcjohnson/neural-style.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use serde::Deserialize;
use stylefarm_spec::names::{DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS};
use stylefarm_spec::{
    Init, LayerWeight, Optimizer, OriginalColors, Pooling, Precision, RenderSettings, Scales,
};

use super::bytes::ByteSize;

/// Every engine control, with jcjohnson/neural-style's names. Unset values
/// come from the layer below (flags < job file < config < defaults).
#[derive(Args, Deserialize, Debug, Clone, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RenderLayer {
    /// Long side of the output in pixels [default: 512].
    #[arg(long)]
    pub size: Option<u32>,
    /// Optimisation iterations (per scale with --scales/--multiscale) [default: 1000, as
    /// neural-style].
    #[arg(long)]
    pub iterations: Option<u32>,
    /// Early stopping: end a scale once its lowest loss improved by less than this fraction
    /// over the last --tol-window iterations, e.g. 0.01 [default: off, every iteration runs].
    #[arg(long, value_name = "R")]
    pub tol_loss_relative: Option<f64>,
    /// The window of --tol-loss-relative, in iterations [default: 50].
    #[arg(long, value_name = "K")]
    pub tol_window: Option<u32>,
    /// Random seed: same seed, same device, same picture [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// The optimiser [default: lbfgs].
    #[arg(long)]
    pub optimizer: Option<Optimizer>,
    /// Step size: Adam's learning rate [default: 10], or L-BFGS's fixed step [default: 1].
    #[arg(long, allow_negative_numbers = true)]
    pub learning_rate: Option<f64>,
    /// L-BFGS history size [default: 100].
    #[arg(long)]
    pub lbfgs_history: Option<u32>,
    /// Weight α of the content loss [default: 5].
    #[arg(long, allow_negative_numbers = true)]
    pub content_weight: Option<f64>,
    /// Weight β of the style loss [default: 100].
    #[arg(long, allow_negative_numbers = true)]
    pub style_weight: Option<f64>,
    /// Weight of the total-variation smoothing [default: 0.001].
    #[arg(long, allow_negative_numbers = true)]
    pub tv_weight: Option<f64>,
    /// Content layers, comma list of NAME or NAME:WEIGHT [default: relu4_2].
    #[arg(long)]
    pub content_layers: Option<String>,
    /// Style layers, comma list of NAME or NAME:WEIGHT [default: relu1_1,relu2_1,relu3_1,relu4_1,relu5_1].
    #[arg(long)]
    pub style_layers: Option<String>,
    /// Start from noise (seeded), the content, or an image file PATH [default: noise].
    #[arg(long, value_name = "noise|content|PATH")]
    pub init: Option<String>,
    /// Pooling between VGG blocks [default: max].
    #[arg(long)]
    pub pooling: Option<Pooling>,
    /// Size of the style images relative to the output [default: 1.0].
    #[arg(long, allow_negative_numbers = true)]
    pub style_scale: Option<f64>,
    /// Keep the content's colours: luminance (after) or match (style colours, before) [default: none].
    #[arg(long)]
    pub original_colors: Option<OriginalColors>,
    /// Coarse-to-fine long sides, comma list ending at the output size, e.g. 128,256,512.
    #[arg(long, conflicts_with = "multiscale")]
    pub scales: Option<String>,
    /// Coarse-to-fine in √2 steps from about 128 px up to --size.
    #[arg(long, num_args = 0, default_missing_value = "true")]
    pub multiscale: Option<bool>,
    /// Save a snapshot every K iterations (OUTPUT_<iteration>.png).
    #[arg(long, value_name = "K")]
    pub save_every: Option<u32>,
    /// Write an animated GIF of the snapshots (every --save-every iterations, default 10).
    #[arg(long, value_name = "OUT.gif")]
    #[serde(skip)]
    pub animation: Option<PathBuf>,
    /// Texture synthesis from noise at WIDTHxHEIGHT, with no content image.
    #[arg(long, value_name = "WxH")]
    pub texture: Option<String>,
    /// L1-normalise each layer's gradient (neural-style's -normalize_gradients).
    #[arg(long, num_args = 0, default_missing_value = "true")]
    pub normalize_gradients: Option<bool>,
    /// Circular padding: the result repeats without a seam (for textures).
    #[arg(long, num_args = 0, default_missing_value = "true")]
    pub tileable: Option<bool>,
    /// Exact tiling on one machine with tiles of N pixels (a multiple of 16); for highres and
    /// texture jobs the farm's tile instead (tasks across workers).
    #[arg(long, value_name = "N")]
    pub tile: Option<u32>,
    /// Memory budget of one evaluation (e.g. 2GiB, 512MiB, or bytes); larger pictures are
    /// tiled exactly.
    #[arg(long, value_name = "SIZE")]
    pub max_memory: Option<ByteSize>,
    /// The network's number format: fp32, tf32 (TF32 multiplies, f32 sums) or bf16 (bfloat16
    /// network, f32 sums); image, Gram matrices, losses and optimiser stay f32 [default: tf32 on
    /// a GPU, fp32 on the CPU; the CPU emulates tf32 and bf16, slower].
    #[arg(long)]
    pub precision: Option<Precision>,
}

impl RenderLayer {
    /// `over`'s values where set, else these: the one merge of render layers.
    pub fn merge(self, over: RenderLayer) -> RenderLayer {
        RenderLayer {
            size: over.size.or(self.size),
            iterations: over.iterations.or(self.iterations),
            tol_loss_relative: over.tol_loss_relative.or(self.tol_loss_relative),
            tol_window: over.tol_window.or(self.tol_window),
            seed: over.seed.or(self.seed),
            optimizer: over.optimizer.or(self.optimizer),
            learning_rate: over.learning_rate.or(self.learning_rate),
            lbfgs_history: over.lbfgs_history.or(self.lbfgs_history),
            content_weight: over.content_weight.or(self.content_weight),
            style_weight: over.style_weight.or(self.style_weight),
            tv_weight: over.tv_weight.or(self.tv_weight),
            content_layers: over.content_layers.or(self.content_layers),
            style_layers: over.style_layers.or(self.style_layers),
            init: over.init.or(self.init),
            pooling: over.pooling.or(self.pooling),
            style_scale: over.style_scale.or(self.style_scale),
            original_colors: over.original_colors.or(self.original_colors),
            // Explicit scales and automatic multiscale exclude each other:
            // whichever the higher layer sets wins over the lower's other.
            scales: over.scales.clone().or(if over.multiscale == Some(true) {
                None
            } else {
                self.scales
            }),
            multiscale: over.multiscale.or(if over.scales.is_some() {
                None
            } else {
                self.multiscale
            }),
            save_every: over.save_every.or(self.save_every),
            animation: over.animation.or(self.animation),
            texture: over.texture.or(self.texture),
            normalize_gradients: over.normalize_gradients.or(self.normalize_gradients),
            tileable: over.tileable.or(self.tileable),
            tile: over.tile.or(self.tile),
            max_memory: over.max_memory.or(self.max_memory),
            precision: over.precision.or(self.precision),
        }
    }

    /// The job's render settings, with neural-style's defaults where the
    /// merged layers set nothing, and the init picture's path if `--init`
    /// names a file. Every bad value is an error naming the flag.
    pub fn resolve(&self) -> anyhow::Result<(RenderSettings, Option<PathBuf>)> {
        let d = RenderSettings::default();
        let optimizer = self.optimizer.unwrap_or(d.optimizer);
        let (init, init_image) = match self.init.as_deref() {
            None => (Init::Noise, None),
            Some(s) => match init_name(s) {
                Some(init) => (init, None),
                None => (Init::Image, Some(PathBuf::from(s))),
            },
        };
        let scales = match (&self.scales, self.multiscale) {
            (Some(s), _) => Scales::Explicit(parse_list(s, "--scales")?),
            (None, Some(true)) => Scales::Auto,
            (None, _) => Scales::Single,
        };
        let mut size = self.size.unwrap_or(d.size);
        if let Scales::Explicit(s) = &scales
            && let Some(&last) = s.last()
        {
            if self.size.is_some_and(|size| size != last) {
                bail!(
                    "--scales {s:?} ends at {last} but --size is {size}: the last scale is the output size"
                );
            }
            size = last;
        }
        let save_every = match (self.save_every, &self.animation) {
            (Some(k), _) => k,
            (None, Some(_)) => 10,
            (None, None) => 0,
        };
        let layers = |flag: &str, value: &Option<String>, default: &[&str]| match value {
            Some(s) => parse_layers(s, flag),
            None => Ok(default.iter().map(|l| LayerWeight::new(l)).collect()),
        };
        let settings = RenderSettings {
            size,
            iterations: self.iterations.unwrap_or(d.iterations),
            seed: self.seed.unwrap_or(d.seed),
            optimizer,
            learning_rate: self
                .learning_rate
                .unwrap_or_else(|| optimizer.default_learning_rate()),
            lbfgs_history: self.lbfgs_history.unwrap_or(d.lbfgs_history),
            content_weight: self.content_weight.unwrap_or(d.content_weight),
            style_weight: self.style_weight.unwrap_or(d.style_weight),
            tv_weight: self.tv_weight.unwrap_or(d.tv_weight),
            content_layers: layers(
                "--content-layers",
                &self.content_layers,
                DEFAULT_CONTENT_LAYERS,
            )?,
            style_layers: layers("--style-layers", &self.style_layers, DEFAULT_STYLE_LAYERS)?,
            init,
            // The init picture's key comes with its upload.
            init_key: None,
            pooling: self.pooling.unwrap_or(d.pooling),
            style_scale: self.style_scale.unwrap_or(d.style_scale),
            original_colors: self.original_colors.unwrap_or(d.original_colors),
            scales,
            save_every,
            animation: self.animation.is_some(),
            texture: self.texture.as_deref().map(parse_texture).transpose()?,
            normalize_gradients: self.normalize_gradients.unwrap_or(false),
            model: d.model,
            tileable: self.tileable.unwrap_or(false),
            tile: self.tile,
            max_memory: self.max_memory.map(|b| b.0),
            precision: self.precision,
            tol_loss_relative: self.tol_loss_relative,
            tol_window: self.tol_window.unwrap_or(d.tol_window),
        };
        Ok((settings, init_image))
    }
}

/// What `--init` names when it is not a file: `noise` or `content` (the
/// names of [`Init`]), or neural-style's `random` and `image` (which meant
/// the content there).
pub fn init_name(s: &str) -> Option<Init> {
    match s {
        "random" => Some(Init::Noise),
        "image" => Some(Init::Content),
        s => s.parse().ok().filter(|i| *i != Init::Image),
    }
}

/// `relu1_1,relu2_1:0.5` → names with weights (default 1).
pub fn parse_layers(s: &str, flag: &str) -> anyhow::Result<Vec<LayerWeight>> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once(':') {
            Some((name, w)) => {
                let weight: f64 = w
                    .parse()
                    .with_context(|| format!("{flag}: weight '{w}' of {name} is not a number"))?;
                Ok(LayerWeight {
                    layer: name.to_string(),
                    weight,
                })
            }
            None => Ok(LayerWeight::new(p)),
        })
        .collect()
}

fn parse_list(s: &str, flag: &str) -> anyhow::Result<Vec<u32>> {
    s.split(',')
        .map(|p| {
            p.trim()
                .parse::<u32>()
                .with_context(|| format!("{flag}: '{p}' is not a size in pixels"))
        })
        .collect()
}

/// `512x256` → (512, 256).
pub fn parse_texture(s: &str) -> anyhow::Result<(u32, u32)> {
    let (w, h) = s
        .split_once(['x', 'X', '×'])
        .with_context(|| format!("--texture {s}: expected WIDTHxHEIGHT, e.g. 512x512"))?;
    let w = w
        .trim()
        .parse()
        .with_context(|| format!("--texture {s}: bad width"))?;
    let h = h
        .trim()
        .parse()
        .with_context(|| format!("--texture {s}: bad height"))?;
    Ok((w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_and_textures_parse() {
        assert_eq!(
            parse_layers("relu1_1, relu2_1:0.5", "--x").unwrap(),
            vec![
                LayerWeight::new("relu1_1"),
                LayerWeight {
                    layer: "relu2_1".into(),
                    weight: 0.5
                }
            ]
        );
        assert!(
            parse_layers("relu1_1:abc", "--x")
                .unwrap_err()
                .to_string()
                .contains("not a number")
        );
        assert_eq!(parse_texture("64x32").unwrap(), (64, 32));
        assert!(parse_texture("64").is_err());
    }

    #[test]
    fn higher_layers_win_and_defaults_fill_the_rest() {
        let config = RenderLayer {
            size: Some(300),
            iterations: Some(7),
            ..Default::default()
        };
        let flags = RenderLayer {
            size: Some(128),
            ..Default::default()
        };
        let (s, _) = config.clone().merge(flags).resolve().unwrap();
        assert_eq!((s.size, s.iterations), (128, 7));
        assert_eq!(s.style_weight, RenderSettings::default().style_weight);
        let flags = RenderLayer {
            scales: Some("64,128".into()),
            size: Some(256),
            ..Default::default()
        };
        let e = config.clone().merge(flags).resolve().unwrap_err();
        assert!(e.to_string().contains("last scale"), "{e}");
        let flags = RenderLayer {
            animation: Some("a.gif".into()),
            ..Default::default()
        };
        let (s, _) = config.merge(flags).resolve().unwrap();
        assert_eq!(s.save_every, 10);
        assert!(s.animation);
    }

    #[test]
    fn adam_takes_its_own_learning_rate_and_init_may_name_a_file() {
        let layer = RenderLayer {
            optimizer: Some(Optimizer::Adam),
            init: Some("start.png".into()),
            ..Default::default()
        };
        let (s, init) = layer.resolve().unwrap();
        assert_eq!(s.learning_rate, 10.0);
        assert_eq!(s.init, Init::Image);
        assert_eq!(init, Some(PathBuf::from("start.png")));
        assert_eq!(init_name("random"), Some(Init::Noise));
        assert_eq!(init_name("image"), Some(Init::Content));
        assert_eq!(init_name("content"), Some(Init::Content));
        assert_eq!(init_name("photo.png"), None);
    }

    #[test]
    fn a_higher_layers_multiscale_replaces_the_lower_layers_scales() {
        let file = RenderLayer {
            scales: Some("64,128".into()),
            ..Default::default()
        };
        let flags = RenderLayer {
            multiscale: Some(true),
            ..Default::default()
        };
        let merged = file.merge(flags);
        assert_eq!((merged.scales, merged.multiscale), (None, Some(true)));
    }
}
