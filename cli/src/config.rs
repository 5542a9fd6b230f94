//! The settings file and environment, through the `config` crate:
//! `stylefarm.toml` < `STYLEFARM_*` environment < command-line flags.
//!
//! Nested keys use `__` in the environment: `STYLEFARM_RENDER__SIZE=1024`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FileConfig {
    pub model: Option<PathBuf>,
    pub device: Option<String>,
    pub log_format: Option<String>,
    pub max_input_pixels: Option<u64>,
    /// Coordinator URL for client commands and workers.
    pub coordinator: Option<String>,
    /// Folder of the embedded farm (database, objects).
    pub data_dir: Option<PathBuf>,
    pub render: RenderDefaults,
}

/// Defaults for the engine flags, in the flags' own names.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(default)]
pub struct RenderDefaults {
    pub size: Option<usize>,
    pub iterations: Option<usize>,
    pub seed: Option<u64>,
    pub optimizer: Option<String>,
    pub learning_rate: Option<f64>,
    pub lbfgs_history: Option<usize>,
    pub content_weight: Option<f64>,
    pub style_weight: Option<f64>,
    pub tv_weight: Option<f64>,
    pub content_layers: Option<String>,
    pub style_layers: Option<String>,
    pub init: Option<String>,
    pub pooling: Option<String>,
    pub style_scale: Option<f64>,
    pub original_colors: Option<String>,
}

impl RenderDefaults {
    /// These values where set, else `base`'s.
    pub fn over(&self, base: &RenderDefaults) -> RenderDefaults {
        let s = self.clone();
        let b = base.clone();
        RenderDefaults {
            size: s.size.or(b.size),
            iterations: s.iterations.or(b.iterations),
            seed: s.seed.or(b.seed),
            optimizer: s.optimizer.or(b.optimizer),
            learning_rate: s.learning_rate.or(b.learning_rate),
            lbfgs_history: s.lbfgs_history.or(b.lbfgs_history),
            content_weight: s.content_weight.or(b.content_weight),
            style_weight: s.style_weight.or(b.style_weight),
            tv_weight: s.tv_weight.or(b.tv_weight),
            content_layers: s.content_layers.or(b.content_layers),
            style_layers: s.style_layers.or(b.style_layers),
            init: s.init.or(b.init),
            pooling: s.pooling.or(b.pooling),
            style_scale: s.style_scale.or(b.style_scale),
            original_colors: s.original_colors.or(b.original_colors),
        }
    }
}

impl FileConfig {
    pub fn load(explicit: Option<&Path>) -> anyhow::Result<FileConfig> {
        let mut builder = config::Config::builder();
        match explicit {
            Some(path) => {
                if !path.exists() {
                    anyhow::bail!("config file {} does not exist", path.display());
                }
                builder = builder.add_source(config::File::from(path).required(true));
            }
            None => {
                if let Some(path) = default_path() {
                    builder = builder.add_source(config::File::from(path).required(false));
                }
            }
        }
        builder = builder.add_source(
            config::Environment::with_prefix("STYLEFARM")
                .prefix_separator("_")
                .separator("__"),
        );
        let built = builder
            .build()
            .context("cannot read the settings (stylefarm.toml / STYLEFARM_*)")?;
        built
            .try_deserialize()
            .context("invalid settings in stylefarm.toml or STYLEFARM_* variables")
    }
}

fn default_path() -> Option<PathBuf> {
    let local = PathBuf::from("stylefarm.toml");
    if local.exists() {
        return Some(local);
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("stylefarm").join("stylefarm.toml"))
}
