//! Optimisers over the image tensor. One `step` = one objective evaluation,
//! as in neural-style (no line search).

mod adam;
mod lbfgs;
mod pairs;

pub use adam::Adam;
pub use lbfgs::Lbfgs;

use candle_core::Tensor;

use crate::error::Result;

/// Which optimiser, with its settings. (Its name, as flags, job files and
/// the wire spell it, is `stylefarm_spec::Optimizer`; see [`Optimizer::name`].)
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    /// L-BFGS with `history` correction pairs and a fixed step `learning_rate`
    /// (1.0 as in neural-style).
    Lbfgs { history: usize, learning_rate: f64 },
    /// Adam (β = 0.9, 0.999).
    Adam { learning_rate: f64 },
}

impl Default for Optimizer {
    fn default() -> Self {
        let lbfgs = stylefarm_spec::Optimizer::Lbfgs;
        Optimizer::Lbfgs {
            history: stylefarm_spec::render::DEFAULT_LBFGS_HISTORY as usize,
            learning_rate: lbfgs.default_learning_rate(),
        }
    }
}

impl Optimizer {
    /// This optimiser's name.
    pub fn name(&self) -> stylefarm_spec::Optimizer {
        match self {
            Optimizer::Lbfgs { .. } => stylefarm_spec::Optimizer::Lbfgs,
            Optimizer::Adam { .. } => stylefarm_spec::Optimizer::Adam,
        }
    }
}

/// A running optimiser's state.
pub(crate) enum State {
    Lbfgs(Lbfgs),
    Adam(Adam),
}

impl State {
    pub(crate) fn new(opt: Optimizer) -> State {
        match opt {
            Optimizer::Lbfgs {
                history,
                learning_rate,
            } => State::Lbfgs(Lbfgs::new(history, learning_rate)),
            Optimizer::Adam { learning_rate } => State::Adam(Adam::new(learning_rate)),
        }
    }

    /// The next point from `x` and the gradient `g` there.
    pub(crate) fn step(&mut self, x: &Tensor, g: &Tensor) -> Result<Tensor> {
        match self {
            State::Lbfgs(o) => o.step(x, g),
            State::Adam(o) => o.step(x, g),
        }
    }
}
