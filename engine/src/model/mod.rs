//! VGG-19's convolutional part as explicit layers, its weights and its input
//! preprocessing.
//!
//! Layer names follow jcjohnson/neural-style: `conv{b}_{i}` (before the ReLU),
//! `relu{b}_{i}`, `pool{b}`.

mod layers;
mod legacy_torch;
mod net;
mod precision;
mod weights;

pub use layers::CONV_SHAPES;
pub use layers::{Layer, LayerKind, VGG19_LAYERS};
pub(crate) use layers::{UNITS, Unit};
pub use net::{Activations, Padding, Pooling};
pub use precision::{Precision, default_precision};
pub use weights::{
    DEFAULT_MODEL_FILE, DEFAULT_MODEL_SHA256, Preprocess, Vgg19, default_model_path,
};
