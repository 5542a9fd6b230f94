//! How much memory an evaluation takes, and the tile size a budget allows.

use candle_core::{DType, Device};

use super::grid::{alignment, halo, unit_scale};
use crate::error::{EngineError, Result};
use crate::model::{UNITS, Unit, Vgg19};
use crate::optim::Optimizer;

/// Bytes one evaluation needs per pixel of the evaluated region, for layers
/// up to `deepest`: every unit output kept for the backward, the gradients in
/// flight and the convolution scratch (measured: see docs/tiling.md).
pub(crate) fn bytes_per_pixel(deepest: usize, dtype: DType) -> u64 {
    let mut floats = 0.0;
    for (u, unit) in UNITS.iter().enumerate().take(deepest + 1) {
        let c = match unit {
            Unit::Conv(i) => crate::model::CONV_SHAPES[*i].0,
            Unit::Pool => match UNITS[u - 1] {
                Unit::Conv(i) => crate::model::CONV_SHAPES[i].0,
                Unit::Pool => 0,
            },
        };
        let s = unit_scale(u) as f64;
        floats += c as f64 / (s * s);
    }
    // Gradients of the widest layer in and out, plus scratch.
    floats += 3.0 * 64.0;
    (floats * 1.25 * dtype.size_in_bytes() as f64) as u64
}

/// Default budget for one evaluation and the image-sized state around it when
/// neither `tile` nor `max_memory` is set: half the machine's memory on the
/// CPU (4 GiB where it cannot be read); on a GPU three quarters of its free
/// memory when asked (the rest for the CUDA context, cuDNN's workspaces and
/// other processes), 16 GiB where it cannot be read.
pub fn default_max_memory(device: &Device) -> u64 {
    if !device.is_cpu() {
        return gpu_free_bytes(device).map_or(16 << 30, |free| free / 4 * 3);
    }
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map(|kib| kib * 1024)
    });
    total.map(|t| t / 2).unwrap_or(4 << 30)
}

/// Free memory of a CUDA device, bytes (`cuMemGetInfo`).
#[cfg(feature = "cuda")]
fn gpu_free_bytes(device: &Device) -> Option<u64> {
    let cuda = device.as_cuda_device().ok()?;
    let (free, _total) = cuda.cuda_stream().context().mem_get_info().ok()?;
    Some(free as u64)
}

#[cfg(not(feature = "cuda"))]
fn gpu_free_bytes(_: &Device) -> Option<u64> {
    None
}

/// The most pixels a picture may have for `device` to render it untiled
/// within `budget` bytes at the default layers (to relu5_1), f32, with the
/// optimiser's vectors taking at most a quarter of the budget (as
/// [`plan_memory`] arranges). A farm splits larger single pictures into
/// tiles across workers.
pub fn max_untiled_pixels(device: &Device, budget: u64) -> u64 {
    let dtype = DType::F32;
    let deepest = crate::model::Layer::parse("relu5_1")
        .map(|l| l.unit)
        .unwrap_or(UNITS.len() - 1);
    let usable = (budget - budget / 4).saturating_sub(model_bytes(dtype, device));
    usable / (bytes_per_pixel(deepest, dtype) + image_state_bytes(1, 2, dtype))
}

/// Bytes of the image-sized tensors besides the network pass: image, gradient,
/// content image and targets, optimiser state (`opt_vectors` image-sized vectors).
pub(crate) fn image_state_bytes(pixels: u64, opt_vectors: u64, dtype: DType) -> u64 {
    pixels * dtype.size_in_bytes() as u64 * (3 * (6 + opt_vectors) + 8)
}

/// The inner tile size for an evaluation of `w × h` within `budget` bytes, or
/// `None` when the whole image fits.
pub(crate) fn tile_for_budget(
    (w, h): (usize, usize),
    deepest: usize,
    dtype: DType,
    budget: u64,
    fixed: u64,
) -> Result<Option<usize>> {
    let bpp = bytes_per_pixel(deepest, dtype);
    let pixels = (w * h) as u64;
    if fixed + pixels * bpp <= budget {
        return Ok(None);
    }
    let left = budget.saturating_sub(fixed);
    let side = ((left / bpp) as f64).sqrt() as usize;
    let align = alignment(deepest);
    let inner = side.saturating_sub(2 * halo(deepest)) / align * align;
    if inner < align.max(crate::settings::MIN_TILE) {
        return Err(EngineError::setting(
            "max_memory",
            format!(
                "{} MiB cannot hold a {w}×{h} render's state and one tile; raise --max-memory (at least {} MiB) or lower --size",
                budget >> 20,
                (fixed + bpp * ((align.max(32) + 2 * halo(deepest)).pow(2)) as u64) >> 20
            ),
        ));
    }
    Ok(Some(inner))
}

/// Bytes of the network weights, forward and flipped copies, and on the CPU
/// their Winograd transforms (36 values per 9 weights, both copies).
pub(crate) fn model_bytes(dtype: DType, device: &Device) -> u64 {
    let params: usize = crate::model::CONV_SHAPES
        .iter()
        .map(|(o, i)| o * i * 9 + o)
        .sum();
    let copies = if device.is_cpu() { 2 + 8 } else { 2 };
    copies * (params * dtype.size_in_bytes()) as u64
}

/// The engine's estimate of the bytes one evaluation of `dims` (width,
/// height) takes with this tiling and optimiser: what an out-of-memory
/// error reports as needed.
pub(crate) fn evaluation_bytes(
    model: &Vgg19,
    dims: (usize, usize),
    deepest: usize,
    tile: Option<usize>,
    optimizer: Optimizer,
) -> u64 {
    let pixels = (dims.0 * dims.1) as u64;
    let opt_vectors = match optimizer {
        Optimizer::Lbfgs { history, .. } => 2 * history as u64 + 2,
        Optimizer::Adam { .. } => 2,
    };
    let region = match tile {
        Some(t) => {
            ((t + 2 * halo(deepest)).min(dims.0) * (t + 2 * halo(deepest)).min(dims.1)) as u64
        }
        None => pixels,
    };
    model_bytes(model.dtype(), model.device())
        + image_state_bytes(pixels, opt_vectors, model.dtype())
        + region * bytes_per_pixel(deepest, model.network_dtype())
}

/// The tiling and the optimiser for one scale of `dims` (width, height):
/// `settings.tile` if given, otherwise tiles only when the whole image would
/// not fit the memory budget. L-BFGS keeps `2 · history` image-sized vectors;
/// where they would take more than a quarter of the budget, the history is
/// shortened to fit (at least 5), as documented in docs/tiling.md.
pub(crate) fn plan_memory(
    settings: &crate::settings::Settings,
    model: &Vgg19,
    dims: (usize, usize),
    deepest: usize,
) -> Result<(Option<usize>, Optimizer)> {
    let dtype = model.dtype();
    let budget = settings
        .max_memory
        .unwrap_or_else(|| default_max_memory(model.device()));
    let pixels = (dims.0 * dims.1) as u64;
    let vector = 3 * pixels * dtype.size_in_bytes() as u64;
    let (optimizer, opt_vectors) = match settings.optimizer {
        Optimizer::Lbfgs {
            history,
            learning_rate,
        } => {
            let fits = (budget / 4 / (2 * vector).max(1)) as usize;
            let history = history.min(fits.max(5));
            (
                Optimizer::Lbfgs {
                    history,
                    learning_rate,
                },
                2 * history as u64 + 2,
            )
        }
        adam @ Optimizer::Adam { .. } => (adam, 2),
    };
    let tile = match settings.tile {
        Some(t) => Some(t),
        None => tile_for_budget(
            dims,
            deepest,
            model.network_dtype(),
            budget,
            model_bytes(dtype, model.device()) + image_state_bytes(pixels, opt_vectors, dtype),
        )?,
    };
    Ok((tile, optimizer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Layer;

    #[test]
    fn the_budget_picks_a_tile_that_fits_or_says_what_to_raise() {
        let deepest = Layer::parse("relu5_1").unwrap().unit;
        let fixed = 200 << 20;
        // Small enough: untiled.
        assert_eq!(
            tile_for_budget((256, 192), deepest, DType::F32, 1 << 30, fixed).unwrap(),
            None
        );
        // 4096×3072 in 3 GiB: tiles whose pass fits what is left.
        let budget = 3u64 << 30;
        let t = tile_for_budget((4096, 3072), deepest, DType::F32, budget, fixed)
            .unwrap()
            .unwrap();
        assert!(t >= 512 && t.is_multiple_of(16), "{t}");
        let side = (t + 2 * halo(deepest)) as u64;
        assert!(fixed + side * side * bytes_per_pixel(deepest, DType::F32) <= budget);
        let err = tile_for_budget((4096, 3072), deepest, DType::F32, 210 << 20, fixed)
            .unwrap_err()
            .to_string();
        assert!(err.contains("raise --max-memory"), "{err}");
    }

    #[test]
    fn untiled_pixels_fit_the_budget_and_grow_with_it() {
        let cpu = Device::Cpu;
        let small = max_untiled_pixels(&cpu, 1 << 30);
        let big = max_untiled_pixels(&cpu, 4 << 30);
        assert!(small > 0 && big > 3 * small, "{small} {big}");
        let deepest = Layer::parse("relu5_1").unwrap().unit;
        let need = model_bytes(DType::F32, &cpu)
            + big * bytes_per_pixel(deepest, DType::F32)
            + image_state_bytes(big, 2, DType::F32);
        assert!(need <= 4 << 30, "{need}");
        assert_eq!(max_untiled_pixels(&cpu, 64 << 20), 0);
    }
}
