//! Settings in layers, resolved once (ripgrep's low-args → high-args):
//! neural-style's defaults < `stylefarm.toml` < `STYLEFARM_*` environment <
//! a job file's `[render]` table < flags. Every layer is a [`Layer`] (all
//! values optional) and [`Layer::merge`] is the one merge; [`Settings`] is
//! what the commands use, built once in `main`.
//!
//! Nested keys use `__` in the environment: `STYLEFARM_RENDER__SIZE=1024`,
//! `STYLEFARM_FARM__MAX_ATTEMPTS=6`.
//!
//! Layout: this file (the layer, the resolved settings, loading); `render`
//! (the engine controls); `farm` (the coordinator's knobs); `bytes` (sizes).

mod bytes;
mod farm;
mod render;

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;
use stylefarm_client::{Connection, default_data_dir};
use stylefarm_engine::model::default_model_path;
use stylefarm_spec::limits::DEFAULT_MAX_INPUT_PIXELS;

pub use bytes::ByteSize;
pub use farm::FarmLayer;
pub use render::{RenderLayer, init_name};

/// The file in the data folder that holds a coordinator's admin token when
/// none is configured (created at its first start, readable by its user only).
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

/// The coordinator a client or worker talks to when none is given.
pub const DEFAULT_COORDINATOR: &str = "http://127.0.0.1:7070";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// One layer of settings: the config file with the environment over it, or
/// a command's flags. Every value is optional.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Layer {
    /// The VGG-19 weights file.
    pub model: Option<PathBuf>,
    /// `cpu` or `cuda:N`.
    pub device: Option<String>,
    /// Coordinator URL for client commands and workers.
    pub coordinator: Option<String>,
    /// Bearer token of client commands and workers (`STYLEFARM_TOKEN`).
    pub token: Option<String>,
    /// PEM file of the CA that signed an https coordinator's certificate.
    pub ca: Option<PathBuf>,
    /// The coordinator's own admin token, held in memory
    /// (`STYLEFARM_ADMIN_TOKEN`) [default: DATA_DIR/admin.token].
    pub admin_token: Option<String>,
    /// Folder of the embedded farm (database, objects).
    pub data_dir: Option<PathBuf>,
    pub log_format: Option<LogFormat>,
    /// Inputs with more pixels are refused before decoding.
    pub max_input_pixels: Option<u64>,
    /// Defaults of the engine controls (a job file's and the flags' go over them).
    pub render: RenderLayer,
    /// The coordinator's knobs.
    pub farm: FarmLayer,
}

impl Layer {
    /// `over`'s values where set, else these: the one merge of layers.
    pub fn merge(self, over: Layer) -> Layer {
        Layer {
            model: over.model.or(self.model),
            device: over.device.or(self.device),
            coordinator: over.coordinator.or(self.coordinator),
            token: over.token.or(self.token),
            ca: over.ca.or(self.ca),
            admin_token: over.admin_token.or(self.admin_token),
            data_dir: over.data_dir.or(self.data_dir),
            log_format: over.log_format.or(self.log_format),
            max_input_pixels: over.max_input_pixels.or(self.max_input_pixels),
            render: self.render.merge(over.render),
            farm: self.farm.merge(over.farm),
        }
    }

    /// The config file (`explicit`, else `./stylefarm.toml`, else
    /// `$XDG_CONFIG_HOME/stylefarm/stylefarm.toml`) with the `STYLEFARM_*`
    /// environment over it.
    pub fn from_config(explicit: Option<&Path>) -> anyhow::Result<Layer> {
        let mut builder = config::Config::builder();
        match explicit {
            Some(path) => {
                if !path.exists() {
                    anyhow::bail!("config file {} does not exist", path.display());
                }
                builder = builder.add_source(config::File::from(path).required(true));
            }
            None => {
                if let Some(path) = default_config_path() {
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

    /// The resolved settings, with the defaults for what no layer set.
    pub fn resolve(self) -> Settings {
        Settings {
            model: self.model.unwrap_or_else(default_model_path),
            device: self.device.unwrap_or_else(|| "cpu".into()),
            coordinator: self
                .coordinator
                .unwrap_or_else(|| DEFAULT_COORDINATOR.into()),
            token: self.token.filter(|t| !t.trim().is_empty()),
            ca: self.ca,
            admin_token: self.admin_token.filter(|t| !t.trim().is_empty()),
            data_dir: self.data_dir.unwrap_or_else(default_data_dir),
            log_format: self.log_format.unwrap_or(LogFormat::Text),
            max_input_pixels: self.max_input_pixels.unwrap_or(DEFAULT_MAX_INPUT_PIXELS),
            render: self.render,
            farm: self.farm,
        }
    }
}

/// Every setting a command uses, resolved once from all layers.
#[derive(Debug, Clone)]
pub struct Settings {
    pub model: PathBuf,
    pub device: String,
    pub coordinator: String,
    pub token: Option<String>,
    pub ca: Option<PathBuf>,
    pub admin_token: Option<String>,
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
    pub max_input_pixels: u64,
    /// The render layers below a job's own (config and environment); a job
    /// file's and the flags' are merged over it per job.
    pub render: RenderLayer,
    pub farm: FarmLayer,
}

impl Settings {
    /// How client commands and workers reach the coordinator: its URL, the
    /// token (`--token`, `STYLEFARM_TOKEN`, the config's `token`; else, on
    /// the coordinator's own machine, its `DATA_DIR/admin.token` when this
    /// user may read it) and the CA file for https.
    pub fn connection(&self) -> anyhow::Result<Connection> {
        let token = self.token.clone().or_else(|| {
            std::fs::read_to_string(self.data_dir.join(ADMIN_TOKEN_FILE))
                .ok()
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
        });
        let ca_pem =
            match &self.ca {
                None => None,
                Some(path) => Some(std::fs::read(path).with_context(|| {
                    format!("cannot read the CA certificate {}", path.display())
                })?),
            };
        Ok(Connection {
            url: self.coordinator.clone(),
            token,
            ca_pem,
        })
    }
}

fn default_config_path() -> Option<PathBuf> {
    let local = PathBuf::from("stylefarm.toml");
    if local.exists() {
        return Some(local);
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("stylefarm").join("stylefarm.toml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_config_and_defaults_fill_the_rest() {
        let file: Layer = toml::from_str(
            "device = \"cuda:0\"\nmax_input_pixels = 1000\n[render]\nsize = 300\npooling = \"avg\"\nmax_memory = \"1GiB\"\nprecision = \"bf16\"\n[farm]\nmax_attempts = 6\n",
        )
        .unwrap();
        let flags = Layer {
            device: Some("cpu".into()),
            ..Default::default()
        };
        let s = file.merge(flags).resolve();
        assert_eq!(s.device, "cpu");
        assert_eq!(s.max_input_pixels, 1000);
        assert_eq!(s.coordinator, DEFAULT_COORDINATOR);
        assert_eq!(s.render.size, Some(300));
        assert_eq!(s.render.pooling, Some(stylefarm_spec::Pooling::Avg));
        assert_eq!(s.render.max_memory, Some(ByteSize(1 << 30)));
        assert_eq!(s.render.precision, Some(stylefarm_spec::Precision::Bf16));
        assert_eq!(s.farm.max_attempts, Some(6));
    }

    #[test]
    fn a_bad_name_in_the_config_lists_the_choices() {
        let e = toml::from_str::<Layer>("[render]\noptimizer = \"sgd\"\n").unwrap_err();
        assert!(e.to_string().contains("use one of: lbfgs, adam"), "{e}");
    }
}
