//! [`RenderSettings`]: every engine control of a job, with neural-style's
//! defaults, and their validation.

use crate::error::{Check, InvalidSpec, truncate};
use crate::limits::{
    MAX_ITERATIONS, MAX_LBFGS_HISTORY, MAX_MODEL_ID_LEN, MAX_SIDE, MAX_STYLE_SCALE, MIN_MEMORY,
    MIN_SIDE, MIN_TILE,
};
use crate::names::{
    DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS, Init, Optimizer, OriginalColors, Pooling,
    Precision, VGG19_LAYERS,
};

/// neural-style's output long side, in pixels.
pub const DEFAULT_SIZE: u32 = 512;
/// neural-style's iteration count (`-num_iterations`).
pub const DEFAULT_ITERATIONS: u32 = 1000;
/// Window of early stopping (`tol_loss_relative`), iterations.
pub const DEFAULT_TOL_WINDOW: u32 = 50;
/// neural-style's L-BFGS history.
pub const DEFAULT_LBFGS_HISTORY: u32 = 100;
/// neural-style's content weight α.
pub const DEFAULT_CONTENT_WEIGHT: f64 = 5.0;
/// neural-style's style weight β.
pub const DEFAULT_STYLE_WEIGHT: f64 = 100.0;
/// neural-style's total-variation weight (on 0..255 pixels).
pub const DEFAULT_TV_WEIGHT: f64 = 1e-3;

/// A VGG-19 layer name with its weight in a loss.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LayerWeight {
    /// One of [`VGG19_LAYERS`].
    pub layer: String,
    /// Multiplies the layer's term; finite and ≥ 0.
    pub weight: f64,
}

impl LayerWeight {
    /// `layer` with weight 1.
    pub fn new(layer: &str) -> Self {
        Self {
            layer: layer.to_owned(),
            weight: 1.0,
        }
    }
}

/// Which sizes the optimisation visits, coarse to fine.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scales {
    /// Only the output size.
    #[default]
    Single,
    /// These long sides in pixels, strictly increasing; the last is the size.
    Explicit(Vec<u32>),
    /// √2 steps from about 128 px up to the output size.
    Auto,
}

/// Every engine control of a job. Built with all defaults by
/// [`Default`] (neural-style's), checked by [`RenderSettings::validate`].
/// Serialises with the job file's key names (for manifests).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RenderSettings {
    /// Long side of the output, pixels (ignored for textures).
    pub size: u32,
    /// Optimiser iterations per scale.
    pub iterations: u32,
    /// Seed of the noise init: same seed, same device, same picture.
    pub seed: u64,
    pub optimizer: Optimizer,
    /// Adam's learning rate, or L-BFGS's fixed step.
    pub learning_rate: f64,
    pub lbfgs_history: u32,
    /// α, β and the TV weight, in neural-style's normalisation.
    pub content_weight: f64,
    pub style_weight: f64,
    pub tv_weight: f64,
    pub content_layers: Vec<LayerWeight>,
    pub style_layers: Vec<LayerWeight>,
    pub init: Init,
    /// The init picture's input key; set exactly when `init` is [`Init::Image`].
    pub init_key: Option<String>,
    pub pooling: Pooling,
    /// Style image long side relative to the output's.
    pub style_scale: f64,
    pub original_colors: OriginalColors,
    pub scales: Scales,
    /// Snapshot period in iterations; 0 = none.
    pub save_every: u32,
    /// An animated GIF of the snapshots.
    pub animation: bool,
    /// Texture synthesis at `(width, height)` pixels: no content image.
    pub texture: Option<(u32, u32)>,
    /// L1-normalise each layer's gradient (neural-style's `-normalize_gradients`).
    pub normalize_gradients: bool,
    /// Model id; "" = the farm's default VGG-19.
    pub model: String,
    /// Circular padding: the result repeats without a seam.
    pub tileable: bool,
    /// Exact tiling on one machine with tiles of this many pixels.
    pub tile: Option<u32>,
    /// Memory budget of one evaluation, bytes; `None` = the worker's.
    pub max_memory: Option<u64>,
    /// The network's number format; `None` = the rendering device's default
    /// ([`Precision::default_for`]: tf32 on a GPU, fp32 on the CPU).
    pub precision: Option<Precision>,
    /// Early stopping: a scale ends once its lowest total loss so far improved
    /// by less than this fraction over the last `tol_window` iterations
    /// (`engine::Settings::tol_loss_relative`); `None` runs every iteration.
    pub tol_loss_relative: Option<f64>,
    /// The window of `tol_loss_relative`, iterations.
    pub tol_window: u32,
}

impl Default for RenderSettings {
    fn default() -> Self {
        let layers = |names: &[&str]| names.iter().map(|n| LayerWeight::new(n)).collect();
        Self {
            size: DEFAULT_SIZE,
            iterations: DEFAULT_ITERATIONS,
            seed: 0,
            optimizer: Optimizer::Lbfgs,
            learning_rate: Optimizer::Lbfgs.default_learning_rate(),
            lbfgs_history: DEFAULT_LBFGS_HISTORY,
            content_weight: DEFAULT_CONTENT_WEIGHT,
            style_weight: DEFAULT_STYLE_WEIGHT,
            tv_weight: DEFAULT_TV_WEIGHT,
            content_layers: layers(DEFAULT_CONTENT_LAYERS),
            style_layers: layers(DEFAULT_STYLE_LAYERS),
            init: Init::Noise,
            init_key: None,
            pooling: Pooling::Max,
            style_scale: 1.0,
            original_colors: OriginalColors::None,
            scales: Scales::Single,
            save_every: 0,
            animation: false,
            texture: None,
            normalize_gradients: false,
            model: String::new(),
            tileable: false,
            tile: None,
            max_memory: None,
            precision: None,
            tol_loss_relative: None,
            tol_window: DEFAULT_TOL_WINDOW,
        }
    }
}

impl RenderSettings {
    /// The long side of every scale, coarse to fine, as the engine computes
    /// it (`Settings::scale_dims`): explicit scales, √2 steps from about
    /// 128 px, or only the output size; the texture's long side for textures.
    pub fn scale_sides(&self) -> Vec<u32> {
        let long = match self.texture {
            Some((w, h)) => w.max(h),
            None => self.size,
        };
        match &self.scales {
            Scales::Explicit(s) => s.clone(),
            Scales::Single => vec![long],
            Scales::Auto => {
                let mut v = vec![long];
                let mut x = f64::from(long);
                while x / std::f64::consts::SQRT_2 >= 127.5 {
                    x /= std::f64::consts::SQRT_2;
                    v.push(x.round() as u32);
                }
                v.reverse();
                v
            }
        }
    }

    /// Checks every setting; `has_content`: the job has a content image.
    /// The first problem found is returned.
    pub fn validate(&self, has_content: bool) -> Check {
        let texture = self.texture.is_some();
        range_u32("settings.size", self.size, MIN_SIDE, MAX_SIDE)?;
        range_u32("settings.iterations", self.iterations, 1, MAX_ITERATIONS)?;
        self.validate_stopping()?;
        positive("settings.learning_rate", self.learning_rate)?;
        range_u32(
            "settings.lbfgs_history",
            self.lbfgs_history,
            1,
            MAX_LBFGS_HISTORY,
        )?;
        non_negative("settings.content_weight", self.content_weight)?;
        non_negative("settings.style_weight", self.style_weight)?;
        non_negative("settings.tv_weight", self.tv_weight)?;
        if self.content_layers.is_empty() && !texture {
            return Err(InvalidSpec::new(
                "settings.content_layers",
                "empty",
                "name at least one content layer (relu4_2 is the usual one); only texture mode may leave it empty",
            ));
        }
        check_layers("settings.content_layers", &self.content_layers)?;
        if self.style_layers.is_empty() {
            return Err(InvalidSpec::new(
                "settings.style_layers",
                "empty",
                "name at least one style layer (relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 are usual)",
            ));
        }
        check_layers("settings.style_layers", &self.style_layers)?;
        self.validate_init(has_content)?;
        if !(self.style_scale.is_finite()
            && self.style_scale > 0.0
            && self.style_scale <= MAX_STYLE_SCALE)
        {
            return Err(InvalidSpec::new(
                "settings.style_scale",
                format!("{} is out of range", self.style_scale),
                format!("use a value in (0, {MAX_STYLE_SCALE}]"),
            ));
        }
        if texture && self.original_colors != OriginalColors::None {
            return Err(InvalidSpec::new(
                "settings.original_colors",
                format!("{:?} in texture mode", self.original_colors.as_str()),
                "texture mode has no content colours to keep; use \"none\"",
            ));
        }
        self.validate_scales()?;
        self.validate_tiling()?;
        if self.save_every > self.iterations {
            return Err(InvalidSpec::new(
                "settings.save_every",
                format!(
                    "{} is more than iterations ({})",
                    self.save_every, self.iterations
                ),
                "use 0 (no snapshots) or a period ≤ iterations",
            ));
        }
        if self.animation && self.save_every == 0 {
            return Err(InvalidSpec::new(
                "settings.animation",
                "true with save_every = 0",
                "set save_every > 0 so there are snapshots to animate",
            ));
        }
        if self.model.len() > MAX_MODEL_ID_LEN
            || !self
                .model
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(InvalidSpec::new(
                "settings.model",
                format!("{:?} is not a model id", truncate(&self.model)),
                format!(
                    "use \"\" for the farm's default or an id of at most {MAX_MODEL_ID_LEN} of A-Z a-z 0-9 . _ -"
                ),
            ));
        }
        Ok(())
    }

    /// The texture size, if any, in range.
    pub(crate) fn validate_texture(&self) -> Check {
        if let Some((w, h)) = self.texture {
            range_u32("settings.texture_width", w, MIN_SIDE, MAX_SIDE)?;
            range_u32("settings.texture_height", h, MIN_SIDE, MAX_SIDE)?;
        }
        Ok(())
    }

    fn validate_stopping(&self) -> Check {
        if let Some(r) = self.tol_loss_relative
            && !(r.is_finite() && r > 0.0 && r < 1.0)
        {
            return Err(InvalidSpec::new(
                "settings.tol_loss_relative",
                format!("{r} is not a fraction in (0, 1)"),
                "use e.g. 0.01 (stop when the loss improved by less than 1 % over the window), or leave it out to run every iteration",
            ));
        }
        range_u32("settings.tol_window", self.tol_window, 1, MAX_ITERATIONS)
    }

    fn validate_tiling(&self) -> Check {
        if let Some(tile) = self.tile
            && (!tile.is_multiple_of(16) || !(MIN_TILE..=MAX_SIDE).contains(&tile))
        {
            return Err(InvalidSpec::new(
                "settings.tile",
                format!("{tile} is not a tile size"),
                format!(
                    "use 0 (tile only when needed) or a multiple of 16 in {MIN_TILE}..={MAX_SIDE}"
                ),
            ));
        }
        if let Some(m) = self.max_memory
            && m < MIN_MEMORY
        {
            return Err(InvalidSpec::new(
                "settings.max_memory",
                format!("{m} bytes is below the smallest budget"),
                format!(
                    "use 0 (the default budget) or at least {MIN_MEMORY} bytes ({} MiB)",
                    MIN_MEMORY >> 20
                ),
            ));
        }
        Ok(())
    }

    fn validate_init(&self, has_content: bool) -> Check {
        match (self.init, &self.init_key) {
            (Init::Image, None) => Err(InvalidSpec::new(
                "settings.init_input_key",
                "empty with init = \"image\"",
                "upload the initial image with UploadInput and give its key",
            )),
            (Init::Image, Some(key)) => check_input_key("settings.init_input_key", key),
            (_, Some(key)) => Err(InvalidSpec::new(
                "settings.init_input_key",
                format!(
                    "{:?} given with init = {:?}",
                    truncate(key),
                    self.init.as_str()
                ),
                "set init = \"image\" to start from it, or leave init_input_key empty",
            )),
            (Init::Content, None) if !has_content => Err(InvalidSpec::new(
                "settings.init",
                "\"content\" without a content image",
                "use \"noise\" or \"image\" in texture mode",
            )),
            _ => Ok(()),
        }
    }

    fn validate_scales(&self) -> Check {
        let Scales::Explicit(scales) = &self.scales else {
            return Ok(());
        };
        if scales.is_empty() {
            return Err(InvalidSpec::new(
                "settings.scales",
                "an empty list",
                "list the scales from coarse to fine, ending with the output size",
            ));
        }
        let mut previous = 0;
        for (i, &scale) in scales.iter().enumerate() {
            let field = format!("settings.scales[{i}]");
            range_u32(&field, scale, MIN_SIDE, MAX_SIDE)?;
            if scale <= previous {
                return Err(InvalidSpec::new(
                    field,
                    format!("{scale} is not larger than the scale before it ({previous})"),
                    "list scales from coarse to fine, strictly increasing",
                ));
            }
            previous = scale;
        }
        if previous != self.size {
            return Err(InvalidSpec::new(
                format!("settings.scales[{}]", scales.len() - 1),
                format!("the last scale {previous} differs from size {}", self.size),
                "end the scale list with the output size",
            ));
        }
        Ok(())
    }
}

/// Checks that `key` names an uploaded input: `inputs/` followed by
/// `[A-Za-z0-9._/-]`, no empty, `.` or `..` segments, at most
/// [`MAX_KEY_LEN`](crate::limits::MAX_KEY_LEN) bytes.
pub fn check_input_key(field: &str, key: &str) -> Check {
    use crate::limits::MAX_KEY_LEN;
    let hint =
        "upload the file with UploadInput and use the key it returns (inputs/<sha256>.<ext>)";
    let bad = |problem: String| Err(InvalidSpec::new(field, problem, hint));
    if key.len() > MAX_KEY_LEN {
        return bad(format!(
            "key is {} bytes long (at most {MAX_KEY_LEN})",
            key.len()
        ));
    }
    if !key.starts_with("inputs/") {
        return bad(format!(
            "{:?} does not start with \"inputs/\"",
            truncate(key)
        ));
    }
    if let Some(c) = key
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._/-".contains(*c)))
    {
        return bad(format!(
            "{:?} holds {c:?}; keys use only A-Z a-z 0-9 . _ / -",
            truncate(key)
        ));
    }
    if key["inputs/".len()..]
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return bad(format!(
            "{key:?} has an empty, \".\" or \"..\" path segment"
        ));
    }
    Ok(())
}

fn check_layers(field: &str, layers: &[LayerWeight]) -> Check {
    for (i, lw) in layers.iter().enumerate() {
        let field = format!("{field}[{i}]");
        if !VGG19_LAYERS.contains(&lw.layer.as_str()) {
            return Err(InvalidSpec::new(
                field,
                format!("unknown layer {:?}", truncate(&lw.layer)),
                "VGG-19 layers are conv1_1 … relu5_4, pool1 … pool5",
            ));
        }
        non_negative(&format!("{field}.weight"), lw.weight)?;
    }
    Ok(())
}

pub(crate) fn range_u32(field: &str, value: u32, min: u32, max: u32) -> Check {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(InvalidSpec::new(
            field,
            format!("{value} is out of range"),
            format!("use {min}..={max}"),
        ))
    }
}

pub(crate) fn non_negative(field: &str, value: f64) -> Check {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(InvalidSpec::new(
            field,
            format!("{value} is not a finite number ≥ 0"),
            "use a finite value ≥ 0",
        ))
    }
}

fn positive(field: &str, value: f64) -> Check {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(InvalidSpec::new(
            field,
            format!("{value} is not a finite number > 0"),
            "use a finite value > 0",
        ))
    }
}
