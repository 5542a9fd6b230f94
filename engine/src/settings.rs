//! Every control of a render, with neural-style's defaults, and its
//! validation against the limits of `stylefarm_spec::limits` (the same the
//! farm checks at submit).

use crate::colors::OriginalColors;
use crate::error::{EngineError, Result};
use crate::image::{Image, fit_long_side};
use crate::model::{Layer, Pooling, Precision, default_precision};
use crate::optim::Optimizer;

use stylefarm_spec::limits;
use stylefarm_spec::render as defaults;

/// Smallest side any scale may have: relu5_1 needs 16 pixels to see one.
pub const MIN_SIDE: usize = limits::MIN_SIDE as usize;
/// Largest long side of a render.
pub const MAX_SIDE: usize = limits::MAX_SIDE as usize;
/// Smallest exact-tiling tile (inner region).
pub const MIN_TILE: usize = limits::MIN_TILE as usize;
/// Smallest memory budget `max_memory` accepts.
pub const MIN_MEMORY: u64 = limits::MIN_MEMORY;
/// Default window of early stopping, in iterations.
pub const DEFAULT_TOL_WINDOW: usize = defaults::DEFAULT_TOL_WINDOW as usize;

/// How the image starts.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Init {
    /// Seeded Gaussian noise (σ = 0.001 in network input units, as neural-style).
    #[default]
    Noise,
    /// The content photo.
    Content,
    /// Any picture, resized to the output.
    Image(Image),
}

/// Which sizes the optimisation visits, coarse to fine.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Scales {
    /// Only the output size.
    #[default]
    Single,
    /// These long sides, increasing; the last is the output size.
    Explicit(Vec<usize>),
    /// √2 steps from about 128 px up to the output size.
    Auto,
}

/// A style image and its blend weight.
#[derive(Clone, Debug, PartialEq)]
pub struct Style {
    pub image: Image,
    pub weight: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Long side of the output in pixels (ignored in texture mode).
    pub size: usize,
    /// Iterations at each scale.
    pub iterations: usize,
    pub seed: u64,
    pub optimizer: Optimizer,
    pub content_weight: f64,
    pub style_weight: f64,
    pub tv_weight: f64,
    /// Layer names with per-layer weights.
    pub content_layers: Vec<(String, f64)>,
    pub style_layers: Vec<(String, f64)>,
    pub init: Init,
    pub pooling: Pooling,
    /// Style image long side relative to the output's.
    pub style_scale: f64,
    pub original_colors: OriginalColors,
    pub scales: Scales,
    /// Call the snapshot hook every this many iterations (0 = never).
    pub save_every: usize,
    pub normalize_gradients: bool,
    /// Texture synthesis at `width × height`: no content image.
    pub texture: Option<(usize, usize)>,
    /// Circular padding everywhere: the result repeats without a seam.
    pub tileable: bool,
    /// Exact tiling with tiles of this many pixels (inner region, a multiple
    /// of 16); `None` tiles only when `max_memory` would be exceeded.
    pub tile: Option<usize>,
    /// Memory budget in bytes for one evaluation; `None` = the default budget.
    pub max_memory: Option<u64>,
    /// The network's number format during the optimisation; `None` = the
    /// device's default ([`default_precision`]: tf32 on CUDA, fp32 on the
    /// CPU). Style targets are computed by the model as given (fp32 as
    /// loaded), once per scale.
    pub precision: Option<Precision>,
    /// Early stopping: a scale ends once its lowest total loss so far improved
    /// by less than this fraction over the last `tol_window` iterations, i.e.
    /// when `B[i − K] − B[i] < R · B[i − K]` with `B[i] = min(L[1..=i])`;
    /// only once some window has improved by at least R (from noise, L-BFGS
    /// first sits on a plateau that is not convergence);
    /// `None` runs every iteration. The picture is the last iterate, as
    /// without early stopping. (torch's `optim.lbfgs` has `tolFun`/`tolX` on
    /// single steps instead, which neural-style switches off; a window over
    /// the running minimum is robust to L-BFGS's spikes.) Measured on
    /// tubingen × starry_night at 256 px (docs/calibration.md): R = 0.01,
    /// K = 50 stops at iteration 464, 3.4 % above the loss after 1000.
    pub tol_loss_relative: Option<f64>,
    /// K of `tol_loss_relative`, in iterations.
    pub tol_window: usize,
    /// Read the loss terms off the device every this many iterations: a
    /// GPU then runs that many iterations without waiting for the host,
    /// and progress arrives in bursts. `None` = every iteration on the CPU
    /// (where reading costs nothing), every [`GPU_READ_LOSSES_EVERY`] on a
    /// GPU. Early stopping, a snapshot and a scale's last iteration read at
    /// once. The picture does not depend on it.
    pub read_losses_every: Option<usize>,
}

/// How often a GPU render reads its losses by default, in iterations.
pub const GPU_READ_LOSSES_EVERY: usize = 10;

/// At least one style, weights finite, ≥ 0 and not all 0.
fn check_styles(styles: &[Style]) -> Result<()> {
    if styles.is_empty() {
        return Err(EngineError::setting(
            "style",
            "at least one style image is needed (--style PATH[:WEIGHT])",
        ));
    }
    for s in styles {
        finite_nonneg("style weight", s.weight)?;
    }
    if styles.iter().map(|s| s.weight).sum::<f64>() <= 0.0 {
        return Err(EngineError::setting(
            "style weight",
            "the style blend weights must not all be 0",
        ));
    }
    Ok(())
}

/// A weight is a finite number ≥ 0.
fn finite_nonneg(field: &'static str, v: f64) -> Result<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(EngineError::setting(
            field,
            format!("{v} must be a finite number ≥ 0"),
        ))
    }
}

fn layers(names: &[&str]) -> Vec<(String, f64)> {
    names.iter().map(|l| (l.to_string(), 1.0)).collect()
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            size: defaults::DEFAULT_SIZE as usize,
            iterations: defaults::DEFAULT_ITERATIONS as usize,
            seed: 0,
            optimizer: Optimizer::default(),
            content_weight: defaults::DEFAULT_CONTENT_WEIGHT,
            style_weight: defaults::DEFAULT_STYLE_WEIGHT,
            tv_weight: defaults::DEFAULT_TV_WEIGHT,
            content_layers: layers(stylefarm_spec::names::DEFAULT_CONTENT_LAYERS),
            style_layers: layers(stylefarm_spec::names::DEFAULT_STYLE_LAYERS),
            init: Init::Noise,
            pooling: Pooling::Max,
            style_scale: 1.0,
            original_colors: OriginalColors::None,
            scales: Scales::Single,
            save_every: 0,
            normalize_gradients: false,
            texture: None,
            tileable: false,
            tile: None,
            max_memory: None,
            precision: None,
            tol_loss_relative: None,
            tol_window: DEFAULT_TOL_WINDOW,
            read_losses_every: None,
        }
    }
}

/// The settings checked and resolved against the actual inputs.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    /// `(width, height)` of each scale, coarse to fine.
    pub(crate) dims: Vec<(usize, usize)>,
    pub(crate) content_layers: Vec<(Layer, f64)>,
    pub(crate) style_layers: Vec<(Layer, f64)>,
}

impl Settings {
    /// Every how many iterations a render on `device` reads its losses
    /// ([`Settings::read_losses_every`]): every one under early stopping.
    pub fn read_losses_every_on(&self, device: &candle_core::Device) -> usize {
        if self.tol_loss_relative.is_some() {
            return 1;
        }
        let default = if device.is_cpu() {
            1
        } else {
            GPU_READ_LOSSES_EVERY
        };
        self.read_losses_every.unwrap_or(default).max(1)
    }

    /// Output `(width, height)` for this content (or the texture size).
    pub fn output_dims(&self, content: Option<&Image>) -> (usize, usize) {
        match (self.texture, content) {
            (Some(t), _) => t,
            (None, Some(c)) => fit_long_side(c.width, c.height, self.final_size()),
            (None, None) => (self.size, self.size),
        }
    }

    /// The precision a render on `device` runs at: the one asked for, or
    /// the device's default.
    pub fn precision_on(&self, device: &candle_core::Device) -> Precision {
        self.precision.unwrap_or_else(|| default_precision(device))
    }

    pub(crate) fn final_size(&self) -> usize {
        match &self.scales {
            Scales::Explicit(s) => s.last().copied().unwrap_or(self.size),
            _ => self.size,
        }
    }

    /// Checks every field against the inputs; each error names the field,
    /// the bad value and the valid range.
    pub(crate) fn plan(&self, content: Option<&Image>, styles: Option<&[Style]>) -> Result<Plan> {
        self.check_numbers()?;
        if let Some(styles) = styles {
            check_styles(styles)?;
        }
        self.check_memory()?;
        self.check_inputs(content)?;
        let content_layers = parse_layers("content_layers", &self.content_layers)?;
        let style_layers = parse_layers("style_layers", &self.style_layers)?;
        if style_layers.is_empty() {
            return Err(EngineError::setting(
                "style_layers",
                "at least one style layer is needed (default relu1_1,…,relu5_1)",
            ));
        }
        if content_layers.is_empty() && self.texture.is_none() && self.content_weight > 0.0 {
            return Err(EngineError::setting(
                "content_layers",
                "at least one content layer is needed (default relu4_2)",
            ));
        }
        let dims = self.scale_dims(content)?;
        if self.tileable
            && let Some((w, h)) = dims.last()
            && (!w.is_multiple_of(16) || !h.is_multiple_of(16))
        {
            return Err(EngineError::setting(
                "tileable",
                format!(
                    "{w}×{h}: a tileable render needs width and height multiples of 16, so that every pooling wraps cleanly"
                ),
            ));
        }
        Ok(Plan {
            dims,
            content_layers,
            style_layers,
        })
    }

    /// Weights, style scale, iteration counts, early stopping, optimiser.
    fn check_numbers(&self) -> Result<()> {
        finite_nonneg("content_weight", self.content_weight)?;
        finite_nonneg("style_weight", self.style_weight)?;
        finite_nonneg("tv_weight", self.tv_weight)?;
        let max_scale = limits::MAX_STYLE_SCALE;
        if !(self.style_scale.is_finite()
            && self.style_scale > 0.0
            && self.style_scale <= max_scale)
        {
            return Err(EngineError::setting(
                "style_scale",
                format!("{} must be in (0, {max_scale}]", self.style_scale),
            ));
        }
        let max_iterations = limits::MAX_ITERATIONS as usize;
        if let Some(r) = self.tol_loss_relative
            && !(r.is_finite() && r > 0.0 && r < 1.0)
        {
            return Err(EngineError::setting(
                "tol_loss_relative",
                format!("{r} must be in (0, 1), e.g. 0.001 for 0.1 %"),
            ));
        }
        if self.tol_window == 0 || self.tol_window > max_iterations {
            return Err(EngineError::setting(
                "tol_window",
                format!(
                    "{} must be in 1..={max_iterations} iterations",
                    self.tol_window
                ),
            ));
        }
        if self.iterations == 0 || self.iterations > max_iterations {
            return Err(EngineError::setting(
                "iterations",
                format!("{} must be in 1..={max_iterations}", self.iterations),
            ));
        }
        match self.optimizer {
            Optimizer::Lbfgs {
                history,
                learning_rate,
            } => {
                let max_history = limits::MAX_LBFGS_HISTORY as usize;
                if history == 0 || history > max_history {
                    return Err(EngineError::setting(
                        "lbfgs_history",
                        format!("{history} must be in 1..={max_history}"),
                    ));
                }
                if !(learning_rate.is_finite() && learning_rate > 0.0) {
                    return Err(EngineError::setting(
                        "learning_rate",
                        format!("{learning_rate} must be finite and > 0"),
                    ));
                }
            }
            Optimizer::Adam { learning_rate } => {
                if !(learning_rate.is_finite() && learning_rate > 0.0) {
                    return Err(EngineError::setting(
                        "learning_rate",
                        format!("{learning_rate} must be finite and > 0"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The exact-tiling tile and memory budget.
    fn check_memory(&self) -> Result<()> {
        if let Some(t) = self.tile
            && (t < MIN_TILE || !t.is_multiple_of(16))
        {
            return Err(EngineError::setting(
                "tile",
                format!("{t} must be a multiple of 16 and at least {MIN_TILE} px"),
            ));
        }
        if let Some(m) = self.max_memory
            && m < MIN_MEMORY
        {
            return Err(EngineError::setting(
                "max_memory",
                format!(
                    "{m} bytes is below the smallest budget, {} MiB",
                    MIN_MEMORY >> 20
                ),
            ));
        }
        Ok(())
    }

    /// A content image xor texture mode, and what texture mode excludes.
    fn check_inputs(&self, content: Option<&Image>) -> Result<()> {
        match (content, self.texture) {
            (Some(_), Some(_)) => {
                return Err(EngineError::setting(
                    "texture",
                    "texture mode takes no content image: drop CONTENT or --texture",
                ));
            }
            (None, None) => {
                return Err(EngineError::setting(
                    "content",
                    "a content image is needed, or --texture WxH for texture synthesis",
                ));
            }
            (None, Some(_)) => {
                if self.original_colors != OriginalColors::None {
                    return Err(EngineError::setting(
                        "original_colors",
                        "needs a content image; texture mode has none",
                    ));
                }
                if self.init == Init::Content {
                    return Err(EngineError::setting(
                        "init",
                        "'content' needs a content image; use noise or an image",
                    ));
                }
            }
            (Some(_), None) => {}
        }
        Ok(())
    }

    /// `(width, height)` of every scale, coarse to fine.
    pub fn scale_dims(&self, content: Option<&Image>) -> Result<Vec<(usize, usize)>> {
        let (ow, oh) = self.output_dims(content);
        let long = ow.max(oh);
        if long > MAX_SIDE || ow.min(oh) < MIN_SIDE {
            return Err(EngineError::setting(
                "size",
                format!(
                    "output {ow}×{oh}: each side must be at least {MIN_SIDE} px and at most {MAX_SIDE} px"
                ),
            ));
        }
        let sides: Vec<usize> = match &self.scales {
            Scales::Single => vec![long],
            Scales::Explicit(s) => {
                if s.is_empty() || s.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(EngineError::setting(
                        "scales",
                        format!("{s:?} must be a non-empty increasing list of sizes"),
                    ));
                }
                s.clone()
            }
            Scales::Auto => {
                let mut v = vec![long];
                let mut s = long as f64;
                while s / std::f64::consts::SQRT_2 >= 127.5 {
                    s /= std::f64::consts::SQRT_2;
                    v.push(s.round() as usize);
                }
                v.reverse();
                v
            }
        };
        let dims: Vec<(usize, usize)> = sides.iter().map(|&s| fit_long_side(ow, oh, s)).collect();
        if let Some((w, h)) = dims.iter().find(|(w, h)| (*w).min(*h) < MIN_SIDE) {
            return Err(EngineError::setting(
                "scales",
                format!("scale {w}×{h} is smaller than {MIN_SIDE} px on a side"),
            ));
        }
        Ok(dims)
    }
}

impl Settings {
    /// The style layers, parsed (an unknown name is an error).
    pub fn style_layer_list(&self) -> Result<Vec<Layer>> {
        Ok(parse_layers("style_layers", &self.style_layers)?
            .into_iter()
            .map(|(l, _)| l)
            .collect())
    }
}

fn parse_layers(field: &'static str, layers: &[(String, f64)]) -> Result<Vec<(Layer, f64)>> {
    let mut out = Vec::with_capacity(layers.len());
    for (name, w) in layers {
        let layer = Layer::parse(name).map_err(|e| match e {
            EngineError::InvalidSetting { reason, .. } => EngineError::setting(field, reason),
            other => other,
        })?;
        if !(w.is_finite() && *w >= 0.0) {
            return Err(EngineError::setting(
                field,
                format!("weight {w} of {name} must be finite and ≥ 0"),
            ));
        }
        if out.iter().any(|(l, _)| *l == layer) {
            return Err(EngineError::setting(
                field,
                format!("layer {name} is listed twice"),
            ));
        }
        out.push((layer, *w));
    }
    Ok(out)
}
