//! The layer table of VGG-19 up to pool5.

use crate::error::{EngineError, Result};

/// `(C_out, C_in)` of the 16 convolutions, in order.
pub const CONV_SHAPES: [(usize, usize); 16] = [
    (64, 3),
    (64, 64),
    (128, 64),
    (128, 128),
    (256, 128),
    (256, 256),
    (256, 256),
    (256, 256),
    (512, 256),
    (512, 512),
    (512, 512),
    (512, 512),
    (512, 512),
    (512, 512),
    (512, 512),
    (512, 512),
];

/// A step of the forward pass: a convolution (+ReLU) or a 2×2 pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    Conv(usize),
    Pool,
}

pub(crate) const UNITS: [Unit; 21] = [
    Unit::Conv(0),
    Unit::Conv(1),
    Unit::Pool,
    Unit::Conv(2),
    Unit::Conv(3),
    Unit::Pool,
    Unit::Conv(4),
    Unit::Conv(5),
    Unit::Conv(6),
    Unit::Conv(7),
    Unit::Pool,
    Unit::Conv(8),
    Unit::Conv(9),
    Unit::Conv(10),
    Unit::Conv(11),
    Unit::Pool,
    Unit::Conv(12),
    Unit::Conv(13),
    Unit::Conv(14),
    Unit::Conv(15),
    Unit::Pool,
];

/// Every layer name, in network order.
pub use stylefarm_spec::VGG19_LAYERS;

/// Which tensor of a unit a layer name means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LayerKind {
    /// A convolution's output before its ReLU.
    Conv,
    /// A ReLU's output, or a pooling's output.
    Out,
}

/// A named layer resolved to its place in the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Layer {
    pub(crate) unit: usize,
    pub(crate) kind: LayerKind,
    pub(crate) name: &'static str,
}

impl Layer {
    /// Resolves a neural-style layer name; unknown names list the valid ones.
    pub fn parse(name: &str) -> Result<Layer> {
        let mut unit = 0;
        for &n in VGG19_LAYERS.iter() {
            let kind = if n.starts_with("conv") {
                LayerKind::Conv
            } else {
                LayerKind::Out
            };
            if n == name {
                return Ok(Layer {
                    unit,
                    kind,
                    name: n,
                });
            }
            if kind == LayerKind::Out {
                unit += 1;
            }
        }
        Err(EngineError::setting(
            "layers",
            format!(
                "unknown layer '{name}'; VGG-19 layers are {}",
                VGG19_LAYERS.join(",")
            ),
        ))
    }

    pub fn name(&self) -> &'static str {
        self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_to_units() {
        let relu1 = Layer::parse("relu1_1").unwrap();
        assert_eq!((relu1.unit, relu1.kind), (0, LayerKind::Out));
        let conv = Layer::parse("conv4_2").unwrap();
        assert_eq!((conv.unit, conv.kind), (12, LayerKind::Conv));
        assert_eq!(UNITS[12], Unit::Conv(9));
        let pool5 = Layer::parse("pool5").unwrap();
        assert_eq!((pool5.unit, UNITS[pool5.unit]), (20, Unit::Pool));
        let err = Layer::parse("relu9_1").unwrap_err().to_string();
        assert!(
            err.contains("unknown layer 'relu9_1'") && err.contains("relu5_1"),
            "{err}"
        );
    }
}
