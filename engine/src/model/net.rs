//! The fixed forward pass that keeps what the backward needs, and the
//! hand-written gradient with respect to the input image.

use candle_core::Tensor;

use super::layers::{Layer, LayerKind, UNITS, Unit};
use super::weights::Vgg19;
use crate::error::Result;
use crate::ops;

pub use stylefarm_spec::Pooling;

/// How convolutions see beyond the image's edge: zeros (VGG's training), or
/// the opposite edge, which makes the optimised image tileable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Padding {
    #[default]
    Zeros,
    Circular,
}

/// Every unit output of one forward pass up to the deepest layer asked for,
/// in the network's number format, and the layers asked for in the model's
/// dtype.
pub struct Activations {
    input: Tensor,
    outs: Vec<Tensor>,
    pre: Vec<Option<Tensor>>,
    /// Per unit, a max-pool's argmax where the CUDA kernel kept one.
    argmax: Vec<Option<Tensor>>,
    features: Vec<(Layer, Tensor)>,
    pooling: Pooling,
    padding: Padding,
}

impl Activations {
    /// The features `(C, H, W)` (`(N, C, H, W)` for a batch) of a layer the
    /// pass was asked for, in the model's dtype; any other ReLU or pool
    /// before the deepest one in the network's format.
    pub fn get(&self, layer: Layer) -> &Tensor {
        if let Some((_, f)) = self.features.iter().find(|(l, _)| *l == layer) {
            return f;
        }
        self.raw(layer)
    }

    fn raw(&self, layer: Layer) -> &Tensor {
        match layer.kind {
            LayerKind::Out => &self.outs[layer.unit],
            LayerKind::Conv => self.pre[layer.unit]
                .as_ref()
                .unwrap_or(&self.outs[layer.unit]),
        }
    }

    fn unit_input(&self, unit: usize) -> &Tensor {
        if unit == 0 {
            &self.input
        } else {
            &self.outs[unit - 1]
        }
    }
}

impl Vgg19 {
    /// Runs the network on `x: (3, H, W)` (already preprocessed), or on a
    /// batch `(N, 3, H, W)` of same-size pictures, up to the deepest of
    /// `layers`, never further. Every activation keeps the input's rank.
    pub fn forward(&self, x: &Tensor, layers: &[Layer], pooling: Pooling) -> Result<Activations> {
        self.forward_padded(x, layers, pooling, Padding::Zeros)
    }

    /// [`Vgg19::forward`] with a choice of convolution padding.
    pub fn forward_padded(
        &self,
        x: &Tensor,
        layers: &[Layer],
        pooling: Pooling,
        padding: Padding,
    ) -> Result<Activations> {
        let last = layers.iter().map(|l| l.unit).max().unwrap_or(0);
        let x = &self.to_network(x)?;
        let mut outs: Vec<Tensor> = Vec::with_capacity(last + 1);
        let mut pre = Vec::with_capacity(last + 1);
        let mut argmax = Vec::with_capacity(last + 1);
        for (u, unit) in UNITS.iter().enumerate().take(last + 1) {
            let prev = if u == 0 { x } else { &outs[u - 1] };
            let (out, p, a) = match *unit {
                Unit::Conv(i) => {
                    let c = &self.convs[i];
                    let keep_pre = layers
                        .iter()
                        .any(|l| l.unit == u && l.kind == LayerKind::Conv);
                    let input = self.conv_input(prev)?;
                    let conv = |relu| {
                        self.conv_with_math(|| match padding {
                            Padding::Zeros => ops::conv3x3(&input, &c.w, Some(&c.b), relu),
                            Padding::Circular => ops::crop1(&ops::conv3x3(
                                &ops::circular_pad1(&input)?,
                                &c.w,
                                Some(&c.b),
                                relu,
                            )?),
                        })
                    };
                    if keep_pre {
                        let p = self.stored(conv(false)?)?;
                        (p.relu()?, Some(p), None)
                    } else {
                        (self.stored(conv(true)?)?, None, None)
                    }
                }
                Unit::Pool => match pooling {
                    Pooling::Max => {
                        let (out, a) = ops::max_pool2_indexed(prev)?;
                        (out, None, a)
                    }
                    Pooling::Avg => (self.stored(ops::avg_pool2(prev)?)?, None, None),
                },
            };
            outs.push(out);
            pre.push(p);
            argmax.push(a);
        }
        let mut acts = Activations {
            input: x.clone(),
            outs,
            pre,
            argmax,
            features: Vec::with_capacity(layers.len()),
            pooling,
            padding,
        };
        for &l in layers {
            let f = self.out_of_network(acts.raw(l))?;
            acts.features.push((l, f));
        }
        Ok(acts)
    }

    /// The gradient with respect to the input of `Σ ⟨grads[k].1, layer_k⟩`,
    /// i.e. backpropagation of the given feature gradients (in the model's
    /// dtype, as is the result; in the network's format in between).
    pub fn backward(&self, acts: &Activations, grads: &[(Layer, Tensor)]) -> Result<Tensor> {
        let grads = grads
            .iter()
            .map(|(l, t)| Ok((*l, self.to_network(t)?)))
            .collect::<Result<Vec<_>>>()?;
        let add_at = |g, u, kind| self.add_at(g, &grads, u, kind);
        let mut g: Option<Tensor> = None;
        for u in (0..acts.outs.len()).rev() {
            g = add_at(g, u, LayerKind::Out)?;
            g = match UNITS[u] {
                Unit::Conv(i) => {
                    let gp = match g {
                        Some(g) => Some(ops::relu_backward(&g, &acts.outs[u])?),
                        None => None,
                    };
                    match add_at(gp, u, LayerKind::Conv)? {
                        Some(gp) => {
                            let gp = self.conv_input(&gp)?;
                            let w_back = &self.convs[i].w_back;
                            let gx = self.conv_with_math(|| match acts.padding {
                                Padding::Zeros => ops::conv3x3_backward(&gp, w_back),
                                Padding::Circular => {
                                    let r = gp.rank();
                                    let padded = gp.pad_with_zeros(r - 2, 1, 1)?.pad_with_zeros(
                                        r - 1,
                                        1,
                                        1,
                                    )?;
                                    ops::circular_fold1(&ops::conv3x3_backward(&padded, w_back)?)
                                }
                            })?;
                            Some(self.stored(gx)?)
                        }
                        None => None,
                    }
                }
                Unit::Pool => match g {
                    Some(g) => Some(match acts.pooling {
                        Pooling::Max => ops::max_pool2_backward(
                            &g,
                            acts.unit_input(u),
                            acts.argmax[u].as_ref(),
                        )?,
                        Pooling::Avg => ops::avg_pool2_backward(&g, acts.unit_input(u))?,
                    }),
                    None => None,
                },
            };
        }
        match g {
            Some(g) => self.out_of_network(&g),
            None => Ok(self.out_of_network(&acts.input)?.zeros_like()?),
        }
    }

    /// `g` plus the gradients given at `unit`'s tensor of `kind`.
    fn add_at(
        &self,
        g: Option<Tensor>,
        grads: &[(Layer, Tensor)],
        unit: usize,
        kind: LayerKind,
    ) -> Result<Option<Tensor>> {
        let mut g = g;
        for (l, t) in grads {
            if l.unit == unit && l.kind == kind {
                g = Some(match g {
                    Some(g) => self.stored((g + t)?)?,
                    None => t.clone(),
                });
            }
        }
        Ok(g)
    }
}
