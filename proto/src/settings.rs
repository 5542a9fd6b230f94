//! Validation of a [`JobSpec`] as it arrives on the wire.
//!
//! The coordinator runs [`validate_spec`] at submit time and workers run it
//! again before rendering, so both sides agree on what a valid job is. Every
//! rejection names the field, the bad value and what to do instead; nothing
//! here guesses a default for a missing value (the CLI fills those in).

use std::fmt;

use crate::pb::{JobSpec, LayerWeight, RenderSettings};

/// Every layer name of VGG-19 that settings may refer to, in network order.
pub const VGG19_LAYERS: &[&str] = &[
    "conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1", //
    "conv2_1", "relu2_1", "conv2_2", "relu2_2", "pool2", //
    "conv3_1", "relu3_1", "conv3_2", "relu3_2", "conv3_3", "relu3_3", "conv3_4", "relu3_4",
    "pool3", //
    "conv4_1", "relu4_1", "conv4_2", "relu4_2", "conv4_3", "relu4_3", "conv4_4", "relu4_4",
    "pool4", //
    "conv5_1", "relu5_1", "conv5_2", "relu5_2", "conv5_3", "relu5_3", "conv5_4", "relu5_4",
    "pool5",
];

/// The job kinds the farm knows how to plan.
pub const JOB_KINDS: &[&str] = &["single", "grid", "gallery", "texture", "highres"];

/// Smallest exact-tiling tile (the engine's `settings::MIN_TILE`).
const MIN_TILE: u32 = 32;
/// Smallest and largest image side, in pixels.
pub const MIN_SIZE: u32 = 16;
/// Largest image side, in pixels.
pub const MAX_SIZE: u32 = 16_384;
/// Most optimiser iterations per scale.
pub const MAX_ITERATIONS: u32 = 100_000;
/// Most L-BFGS history pairs.
pub const MAX_LBFGS_HISTORY: u32 = 1_000;
/// Largest style scale (style image size relative to the output).
pub const MAX_STYLE_SCALE: f64 = 8.0;
/// Longest accepted input key.
pub const MAX_KEY_LEN: usize = 512;
/// Longest accepted job name.
pub const MAX_NAME_LEN: usize = 256;

const LAYER_HINT: &str = "VGG-19 layers are conv1_1 … relu5_4, pool1 … pool5";

/// Why a [`JobSpec`] was refused: the field, the problem (with the bad value)
/// and a hint saying what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}; {hint}")]
pub struct InvalidSpec {
    /// Path of the offending field, e.g. `settings.style_layers[2]`.
    pub field: String,
    /// What is wrong, quoting the bad value.
    pub problem: String,
    /// What to do instead.
    pub hint: String,
}

impl InvalidSpec {
    pub(crate) fn new(
        field: impl Into<String>,
        problem: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
            hint: hint.into(),
        }
    }
}

pub(crate) type Check = Result<(), InvalidSpec>;

/// Checks every field of `spec`; the first problem found is returned.
pub fn validate_spec(spec: &JobSpec) -> Check {
    if spec.name.chars().count() > MAX_NAME_LEN || spec.name.chars().any(char::is_control) {
        return Err(InvalidSpec::new(
            "name",
            format!(
                "{:?} is too long or holds control characters",
                truncate(&spec.name)
            ),
            format!("use at most {MAX_NAME_LEN} printable characters"),
        ));
    }
    // One arm per job kind: a new kind adds its own shape rules here.
    match spec.kind.as_str() {
        "single" => validate_single(spec),
        "grid" => crate::kinds::validate_grid(spec),
        "gallery" => crate::kinds::validate_gallery(spec),
        "texture" => crate::kinds::validate_texture(spec),
        "highres" => crate::kinds::validate_highres(spec),
        other => Err(InvalidSpec::new(
            "kind",
            format!("unknown job kind {:?}", truncate(other)),
            format!("use one of: {}", JOB_KINDS.join(", ")),
        )),
    }
}

/// The input keys `spec` refers to (content, styles, init image), in that
/// order, without empties. The coordinator checks that each one exists.
pub fn referenced_inputs(spec: &JobSpec) -> Vec<&str> {
    let mut keys = Vec::with_capacity(spec.styles.len() + 2);
    keys.push(spec.content_key.as_str());
    keys.extend(spec.contents.iter().map(|c| c.input_key.as_str()));
    keys.extend(spec.styles.iter().map(|s| s.input_key.as_str()));
    if let Some(settings) = &spec.settings {
        keys.push(settings.init_input_key.as_str());
    }
    keys.retain(|k| !k.is_empty());
    keys
}

/// Whether `spec` asks for texture synthesis (no content image).
pub fn is_texture(spec: &JobSpec) -> bool {
    spec.settings
        .as_ref()
        .is_some_and(|s| s.texture_width > 0 || s.texture_height > 0)
}

/// Checks that `key` names an uploaded input: `inputs/` followed by
/// `[A-Za-z0-9._/-]`, no empty or `..` segments.
pub fn check_input_key(field: &str, key: &str) -> Check {
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

pub(crate) fn validate_single(spec: &JobSpec) -> Check {
    let Some(s) = &spec.settings else {
        return Err(InvalidSpec::new(
            "settings",
            "missing",
            "send every render setting explicitly",
        ));
    };
    let texture = s.texture_width > 0 || s.texture_height > 0;
    if texture {
        if !spec.content_key.is_empty() {
            return Err(InvalidSpec::new(
                "content_key",
                format!(
                    "{:?} given together with texture_width/texture_height",
                    truncate(&spec.content_key)
                ),
                "give either a content image or a texture size (both texture dimensions > 0), not both",
            ));
        }
        range_u32(
            "settings.texture_width",
            s.texture_width,
            MIN_SIZE,
            MAX_SIZE,
        )?;
        range_u32(
            "settings.texture_height",
            s.texture_height,
            MIN_SIZE,
            MAX_SIZE,
        )?;
    } else if spec.content_key.is_empty() {
        return Err(InvalidSpec::new(
            "content_key",
            "empty and no texture size given",
            "give a content image key, or texture_width and texture_height (> 0) for texture mode",
        ));
    } else {
        check_input_key("content_key", &spec.content_key)?;
    }
    if !spec.contents.is_empty() {
        return Err(InvalidSpec::new(
            "contents",
            format!("{} given in a {:?} job", spec.contents.len(), spec.kind),
            "only gallery jobs take several contents; use content_key",
        ));
    }
    crate::kinds::label("content_name", &spec.content_name)?;
    validate_styles(spec)?;
    validate_settings(s, texture, !spec.content_key.is_empty())
}

pub(crate) fn validate_styles(spec: &JobSpec) -> Check {
    if spec.styles.is_empty() {
        return Err(InvalidSpec::new(
            "styles",
            "empty",
            "give at least one style image",
        ));
    }
    let mut sum = 0.0;
    for (i, style) in spec.styles.iter().enumerate() {
        check_input_key(&format!("styles[{i}].input_key"), &style.input_key)?;
        non_negative(&format!("styles[{i}].weight"), style.weight)?;
        crate::kinds::label(&format!("styles[{i}].name"), &style.name)?;
        sum += style.weight;
    }
    if !(sum > 0.0 && sum.is_finite()) {
        return Err(InvalidSpec::new(
            "styles",
            format!("the style weights sum to {sum}"),
            "give at least one style a finite weight > 0",
        ));
    }
    Ok(())
}

pub(crate) fn validate_settings(s: &RenderSettings, texture: bool, has_content: bool) -> Check {
    range_u32("settings.size", s.size, MIN_SIZE, MAX_SIZE)?;
    range_u32("settings.iterations", s.iterations, 1, MAX_ITERATIONS)?;
    one_of("settings.optimizer", &s.optimizer, &["lbfgs", "adam"])?;
    positive("settings.learning_rate", s.learning_rate)?;
    range_u32(
        "settings.lbfgs_history",
        s.lbfgs_history,
        1,
        MAX_LBFGS_HISTORY,
    )?;
    non_negative("settings.content_weight", s.content_weight)?;
    non_negative("settings.style_weight", s.style_weight)?;
    non_negative("settings.tv_weight", s.tv_weight)?;
    if s.content_layers.is_empty() && !texture {
        return Err(InvalidSpec::new(
            "settings.content_layers",
            "empty",
            "name at least one content layer (relu4_2 is the usual one); only texture mode may leave it empty",
        ));
    }
    layers("settings.content_layers", &s.content_layers)?;
    if s.style_layers.is_empty() {
        return Err(InvalidSpec::new(
            "settings.style_layers",
            "empty",
            "name at least one style layer (relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 are usual)",
        ));
    }
    layers("settings.style_layers", &s.style_layers)?;
    validate_init(s, has_content)?;
    one_of("settings.pooling", &s.pooling, &["max", "avg"])?;
    if !(s.style_scale.is_finite() && s.style_scale > 0.0 && s.style_scale <= MAX_STYLE_SCALE) {
        return Err(InvalidSpec::new(
            "settings.style_scale",
            format!("{} is out of range", s.style_scale),
            format!("use a value in (0, {MAX_STYLE_SCALE}]"),
        ));
    }
    one_of(
        "settings.original_colors",
        &s.original_colors,
        &["none", "luminance", "match"],
    )?;
    if texture && s.original_colors != "none" {
        return Err(InvalidSpec::new(
            "settings.original_colors",
            format!("{:?} in texture mode", s.original_colors),
            "texture mode has no content colours to keep; use \"none\"",
        ));
    }
    validate_scales(s)?;
    validate_tiling(s)?;
    if s.save_every > s.iterations {
        return Err(InvalidSpec::new(
            "settings.save_every",
            format!(
                "{} is more than iterations ({})",
                s.save_every, s.iterations
            ),
            "use 0 (no snapshots) or a period ≤ iterations",
        ));
    }
    if s.animation && s.save_every == 0 {
        return Err(InvalidSpec::new(
            "settings.animation",
            "true with save_every = 0",
            "set save_every > 0 so there are snapshots to animate",
        ));
    }
    if s.model.len() > 128
        || !s
            .model
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(InvalidSpec::new(
            "settings.model",
            format!("{:?} is not a model id", truncate(&s.model)),
            "use \"\" for the farm's default or an id of at most 128 of A-Z a-z 0-9 . _ -",
        ));
    }
    Ok(())
}

/// Smallest `max_memory` the engine accepts (its `MIN_MEMORY`).
pub const MIN_MEMORY: u64 = 64 << 20;

fn validate_tiling(s: &RenderSettings) -> Check {
    if s.tile != 0 && (!s.tile.is_multiple_of(16) || !(MIN_TILE..=MAX_SIZE).contains(&s.tile)) {
        return Err(InvalidSpec::new(
            "settings.tile",
            format!("{} is not a tile size", s.tile),
            format!("use 0 (tile only when needed) or a multiple of 16 in {MIN_TILE}..={MAX_SIZE}"),
        ));
    }
    if s.max_memory != 0 && s.max_memory < MIN_MEMORY {
        return Err(InvalidSpec::new(
            "settings.max_memory",
            format!("{} bytes is below the smallest budget", s.max_memory),
            format!("use 0 (the default budget) or at least {MIN_MEMORY} bytes (64 MiB)"),
        ));
    }
    Ok(())
}

fn validate_init(s: &RenderSettings, has_content: bool) -> Check {
    one_of("settings.init", &s.init, &["noise", "content", "image"])?;
    match s.init.as_str() {
        "image" if s.init_input_key.is_empty() => Err(InvalidSpec::new(
            "settings.init_input_key",
            "empty with init = \"image\"",
            "upload the initial image with UploadInput and give its key",
        )),
        "image" => check_input_key("settings.init_input_key", &s.init_input_key),
        _ if !s.init_input_key.is_empty() => Err(InvalidSpec::new(
            "settings.init_input_key",
            format!(
                "{:?} given with init = {:?}",
                truncate(&s.init_input_key),
                s.init
            ),
            "set init = \"image\" to start from it, or leave init_input_key empty",
        )),
        "content" if !has_content => Err(InvalidSpec::new(
            "settings.init",
            "\"content\" without a content image",
            "use \"noise\" or \"image\" in texture mode",
        )),
        _ => Ok(()),
    }
}

fn validate_scales(s: &RenderSettings) -> Check {
    if s.scales.is_empty() {
        return Ok(());
    }
    if s.multiscale {
        return Err(InvalidSpec::new(
            "settings.multiscale",
            "true together with explicit scales",
            "either list the scales or ask for automatic multiscale, not both",
        ));
    }
    let mut previous = 0;
    for (i, &scale) in s.scales.iter().enumerate() {
        let field = format!("settings.scales[{i}]");
        range_u32(&field, scale, MIN_SIZE, MAX_SIZE)?;
        if scale <= previous {
            return Err(InvalidSpec::new(
                field,
                format!("{scale} is not larger than the scale before it ({previous})"),
                "list scales from coarse to fine, strictly increasing",
            ));
        }
        previous = scale;
    }
    if previous != s.size {
        return Err(InvalidSpec::new(
            format!("settings.scales[{}]", s.scales.len() - 1),
            format!("the last scale {previous} differs from size {}", s.size),
            "end the scale list with the output size",
        ));
    }
    Ok(())
}

fn layers(field: &str, layers: &[LayerWeight]) -> Check {
    for (i, lw) in layers.iter().enumerate() {
        let field = format!("{field}[{i}]");
        if !VGG19_LAYERS.contains(&lw.layer.as_str()) {
            return Err(InvalidSpec::new(
                field,
                format!("unknown layer {:?}", truncate(&lw.layer)),
                LAYER_HINT,
            ));
        }
        non_negative(&format!("{field}.weight"), lw.weight)?;
    }
    Ok(())
}

fn range_u32(field: &str, value: u32, min: u32, max: u32) -> Check {
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

fn non_negative(field: &str, value: f64) -> Check {
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

fn one_of(field: &str, value: &str, allowed: &[&str]) -> Check {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(InvalidSpec::new(
            field,
            format!("unknown value {:?}", truncate(value)),
            format!("use one of: {}", allowed.join(", ")),
        ))
    }
}

/// Keeps error messages short when a client sends a huge string.
fn truncate(s: &str) -> Truncated<'_> {
    Truncated(s)
}

struct Truncated<'a>(&'a str);

impl fmt::Debug for Truncated<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 80;
        match self.0.char_indices().nth(MAX) {
            None => write!(f, "{:?}", self.0),
            Some((at, _)) => write!(f, "{:?}…", &self.0[..at]),
        }
    }
}

#[cfg(test)]
mod tests;
