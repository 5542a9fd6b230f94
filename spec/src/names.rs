//! Every name a job may use, each in one enum with its spelling: the flags,
//! job files, config, the wire and the engine read and write them through
//! `FromStr`/[`as_str`](Optimizer::as_str) here and nowhere else.

use std::fmt;
use std::str::FromStr;

use crate::error::UnknownName;

/// Defines a fieldless enum with one spelling per variant, and `ALL`,
/// `NAMES`, `as_str`, `FromStr`, `Display`, serde (as the string) and,
/// with the `clap` feature, `clap::ValueEnum`.
macro_rules! names {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal $(, default $default:ident)?) {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// Every spelling, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The one spelling of this variant.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;

            fn from_str(s: &str) -> Result<Self, UnknownName> {
                match s {
                    $( $text => Ok($name::$variant), )+
                    _ => Err(UnknownName {
                        what: $what,
                        given: s.chars().take(200).collect(),
                        expected: Self::NAMES,
                    }),
                }
            }
        }

        $(
            impl Default for $name {
                fn default() -> Self {
                    $name::$default
                }
            }
        )?

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        #[cfg(feature = "clap")]
        impl clap::ValueEnum for $name {
            fn value_variants<'a>() -> &'a [Self] {
                Self::ALL
            }

            fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
                Some(clap::builder::PossibleValue::new(self.as_str()))
            }
        }
    };
}

names! {
    /// The optimiser of a render. Neither runs a line search: one step is
    /// one evaluation of the loss, as in neural-style.
    pub enum Optimizer ("optimizer", default Lbfgs) {
        /// L-BFGS as torch's `optim.lbfgs` without line search (the default).
        Lbfgs = "lbfgs",
        /// Adam (β = 0.9, 0.999).
        Adam = "adam",
    }
}

impl Optimizer {
    /// The step size when none is given: L-BFGS's fixed step 1 (neural-style),
    /// Adam's learning rate 10 (neural-style's `-learning_rate` for Adam).
    pub fn default_learning_rate(self) -> f64 {
        match self {
            Optimizer::Lbfgs => 1.0,
            Optimizer::Adam => 10.0,
        }
    }
}

names! {
    /// Where the optimisation starts.
    pub enum Init ("init", default Noise) {
        /// Seeded Gaussian noise, σ = 0.001 in network input units (neural-style).
        Noise = "noise",
        /// The content photo.
        Content = "content",
        /// A picture of the user's, resized to the output.
        Image = "image",
    }
}

names! {
    /// The pooling between VGG blocks.
    pub enum Pooling ("pooling", default Max) {
        /// 2×2 max pooling, as VGG was trained.
        Max = "max",
        /// 2×2 average pooling (Gatys et al. 2015 prefer it for pictures).
        Avg = "avg",
    }
}

names! {
    /// The number format of the network (VGG-19's convolutions, activations
    /// and their gradients) during the optimisation. The image, the Gram
    /// matrices, the losses and the optimiser are always f32. The default
    /// depends on the device ([`Precision::default_for`]).
    pub enum Precision ("precision") {
        /// IEEE f32 throughout (PyTorch with TF32 off).
        Fp32 = "fp32",
        /// Convolutions multiply TF32 (f32 with a 10-bit mantissa) and
        /// accumulate in f32, as PyTorch's cuDNN convolutions do by default.
        Tf32 = "tf32",
        /// The network stored and multiplied in bfloat16, accumulated in f32
        /// (PyTorch's `autocast(bfloat16)`).
        Bf16 = "bf16",
    }
}

impl Precision {
    /// The precision of a render that asks for none: `tf32` on a GPU (what
    /// PyTorch's convolutions do by default), `fp32` on the CPU, which has
    /// no faster format.
    pub fn default_for(gpu: bool) -> Precision {
        if gpu {
            Precision::Tf32
        } else {
            Precision::Fp32
        }
    }
}

names! {
    /// Whether the output keeps the content's colours (Gatys et al. 2016,
    /// "Preserving Color in Neural Artistic Style Transfer").
    pub enum OriginalColors ("original colours mode", default None) {
        /// The style's colours.
        None = "none",
        /// After rendering: the output's luminance with the content's chroma (YUV).
        Luminance = "luminance",
        /// Before rendering: each style image's colour mean and covariance
        /// matched to the content's.
        Match = "match",
    }
}

names! {
    /// The kinds of job the farm plans (docs/jobs.md).
    pub enum JobKind ("job kind") {
        /// One picture (or one texture): one stylize task.
        Single = "single",
        /// Style interpolation: targets → one stylize per cell → contact sheet.
        Grid = "grid",
        /// Every content × style: targets → one stylize per pair → sheet + page.
        Gallery = "gallery",
        /// Texture synthesis from noise; with a farm tile, tiles across workers.
        Texture = "texture",
        /// One big picture: the whole at low resolution, then tiles per finer scale.
        Highres = "highres",
        /// A video: frames → flow → keyframes → segments → encode (docs/video.md).
        Video = "video",
    }
}

names! {
    /// Extra animated formats of a video job, beside its H.264 MP4.
    pub enum VideoFormat ("video format") {
        /// An animated GIF, one palette per clip.
        Gif = "gif",
        /// An animated lossy WebP.
        Webp = "webp",
    }
}

names! {
    /// What a grid varies along its axis.
    pub enum GridAxis ("grid axis", default Styles) {
        /// Blend the styles' Gram matrices (2 styles: a row; 4: bilinear corners).
        Styles = "styles",
        /// Vary the style weight, log-spaced from ×0.1 to ×10.
        Weights = "weights",
    }
}

names! {
    /// What a worker does for a task.
    pub enum TaskKind ("task kind") {
        /// One optimisation: a picture, a texture, or one tile of a scale.
        Stylize = "stylize",
        /// Several same-size pictures (grid cells, gallery pairs) optimised
        /// together, one batched pass per iteration (docs/batching.md).
        Batch = "batch",
        /// One style's Gram targets into the shared cache.
        Targets = "targets",
        /// Earlier tasks' pictures combined: sheets, gallery pages, mosaics.
        Assemble = "assemble",
        /// Synthetic work of the lease benchmark: no outputs.
        Bench = "bench",
        /// A video's frames (and audio) decoded into storage.
        Frames = "frames",
        /// Optical flow both ways between the neighbouring frames of one
        /// segment (and its two keyframes), with consistency weights.
        Flow = "flow",
        /// A video's keyframes stylised in one chain.
        Keyframes = "keyframes",
        /// The frames between two neighbouring keyframes, stylised forward
        /// and backward and blended.
        Segment = "segment",
        /// The stylised frames encoded as a video with the source's audio.
        Encode = "encode",
    }
}

/// Every layer name of VGG-19 that settings may refer to, in network order.
pub const VGG19_LAYERS: [&str; 37] = [
    "conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1", //
    "conv2_1", "relu2_1", "conv2_2", "relu2_2", "pool2", //
    "conv3_1", "relu3_1", "conv3_2", "relu3_2", "conv3_3", "relu3_3", "conv3_4", "relu3_4",
    "pool3", //
    "conv4_1", "relu4_1", "conv4_2", "relu4_2", "conv4_3", "relu4_3", "conv4_4", "relu4_4",
    "pool4", //
    "conv5_1", "relu5_1", "conv5_2", "relu5_2", "conv5_3", "relu5_3", "conv5_4", "relu5_4",
    "pool5",
];

/// neural-style's content layer.
pub const DEFAULT_CONTENT_LAYERS: &[&str] = &["relu4_2"];
/// neural-style's style layers.
pub const DEFAULT_STYLE_LAYERS: &[&str] = &["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_choices() {
        for k in JobKind::ALL {
            assert_eq!(k.as_str().parse::<JobKind>(), Ok(*k));
        }
        for o in Optimizer::ALL {
            assert_eq!(o.to_string().parse::<Optimizer>(), Ok(*o));
        }
        let e = "sgd".parse::<Optimizer>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown optimizer \"sgd\"; use one of: lbfgs, adam"
        );
        assert!("Single".parse::<JobKind>().is_err());
        assert_eq!(Pooling::NAMES, &["max", "avg"]);
    }

    #[test]
    fn names_read_from_toml_as_strings() {
        #[derive(serde::Deserialize)]
        struct T {
            pooling: Pooling,
        }
        let t: T = toml::from_str("pooling = \"avg\"").unwrap();
        assert_eq!(t.pooling, Pooling::Avg);
        let e = toml::from_str::<T>("pooling = \"min\"").err().unwrap();
        assert!(e.to_string().contains("use one of: max, avg"), "{e}");
    }
}
