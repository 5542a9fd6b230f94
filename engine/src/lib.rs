//! `stylefarm-engine`: neural style transfer (Gatys, Ecker & Bethge 2015) on
//! candle. Pure compute: images and tensors in, images out; no async, no
//! network, no storage.
//!
//! The gradient with respect to the image is written by hand (no autograd
//! through the network): a fixed forward pass keeps each ReLU's output, and
//! the backward routes through ReLU masks, max-pool argmaxes and flipped-kernel
//! convolutions. Unit tests check it against finite differences in f64.
//!
//! Layout:
//! - [`model`]: VGG-19 layers, weight files, input preprocessing, forward/backward.
//! - `ops`: the network's operations, with the CPU kernels (im2col + gemm).
//! - [`loss`]: Gram, content, style and TV terms with their gradients.
//! - [`targets`]: style Grams of images and their blends.
//! - [`guide`]: region maps, guided Grams: semantic style transfer and doodles.
//! - [`objective`]: one evaluation: loss terms and image gradient.
//! - `tiling`: the same evaluation tile by tile, exact, in bounded memory.
//! - [`optim`]: L-BFGS and Adam.
//! - [`settings`]: every render control, its defaults and validation.
//! - [`render`]: multi-scale rendering with progress, snapshots, cancellation,
//!   early stopping.
//! - [`batch`]: several same-size pictures per pass, each with its own optimiser.
//! - [`score`]: the meter: content, relative style and TV of any finished
//!   picture under the fixed model (docs/calibration.md).
//! - [`image`], [`colors`], [`animation`]: pictures in and out (upright by
//!   their EXIF orientation; truncated or corrupt files refused).
//! - [`video`]: temporal loss, warping, frame chains and keyframe segments.

pub mod animation;
pub mod batch;
pub mod colors;
mod error;
pub mod guide;
pub mod image;
pub mod loss;
pub mod model;
pub mod objective;
pub mod ops;
pub mod optim;
pub mod render;
pub mod score;
pub mod settings;
pub mod targets;
mod tiling;
pub mod video;

pub use batch::{BatchHooks, BatchPicture, render_batch};
pub use candle_core::{DType, Device};
pub use error::{EngineError, Result};
pub use guide::{Mask, Masks, render_guided, render_guided_with_targets};
pub use image::Image;
pub use model::{Pooling, Precision, Vgg19, default_precision};
pub use render::{CancelToken, Hooks, Progress, render, render_with_targets};
pub use score::{LayerScore, Score, score};
pub use settings::{Init, Scales, Settings, Style};
pub use targets::{RegionGrams, StyleTargets};
pub use tiling::{default_max_memory, max_untiled_pixels};

/// The engine's version, reported by workers so that a farm can tell
/// which engine rendered what.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Parses `cpu` or `cuda:N` (`cuda` = `cuda:0`).
pub fn parse_device(s: &str) -> Result<Device> {
    match s {
        "cpu" => Ok(Device::Cpu),
        _ => {
            let ordinal = match s.strip_prefix("cuda") {
                Some("") => 0,
                Some(rest) => rest
                    .strip_prefix(':')
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| {
                        EngineError::setting("device", format!("'{s}' is not cpu or cuda:N"))
                    })?,
                None => {
                    return Err(EngineError::setting(
                        "device",
                        format!("'{s}' is not cpu or cuda:N"),
                    ));
                }
            };
            Device::new_cuda(ordinal).map_err(|e| {
                EngineError::setting(
                    "device",
                    format!("{s} is not available ({e}); this build needs `--features cuda` and an NVIDIA GPU"),
                )
            })
        }
    }
}
