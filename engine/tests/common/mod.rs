//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use stylefarm_engine::model::{CONV_SHAPES, default_model_path};
use stylefarm_engine::{DType, Device, Image, Vgg19};

pub fn lcg(seed: u64) -> impl FnMut() -> f64 {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}

/// The device the tests run on: `STYLEFARM_TEST_DEVICE` (`cpu`, `cuda:0`), default cpu.
pub fn device() -> Device {
    match std::env::var("STYLEFARM_TEST_DEVICE") {
        Ok(d) => stylefarm_engine::parse_device(&d).expect("STYLEFARM_TEST_DEVICE"),
        Err(_) => Device::Cpu,
    }
}

/// VGG-19 with random He-scaled weights in torchvision naming: enough to
/// test gradients and plumbing without the real weights.
pub fn random_model(dtype: DType, seed: u64) -> Vgg19 {
    const TV_INDEX: [usize; 16] = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34];
    let mut r = lcg(seed);
    let mut map = HashMap::new();
    for (i, &(o, c)) in CONV_SHAPES.iter().enumerate() {
        let scale = (6.0 / (9.0 * c as f64)).sqrt();
        let w: Vec<f32> = (0..o * c * 9).map(|_| (r() * scale) as f32).collect();
        let b: Vec<f32> = (0..o).map(|_| (r() * 0.05) as f32).collect();
        let n = TV_INDEX[i];
        map.insert(
            format!("features.{n}.weight"),
            candle_core::Tensor::from_vec(w, (o, c, 3, 3), &Device::Cpu).unwrap(),
        );
        map.insert(
            format!("features.{n}.bias"),
            candle_core::Tensor::from_vec(b, o, &Device::Cpu).unwrap(),
        );
    }
    Vgg19::from_tensors(&map, &device(), dtype).unwrap()
}

/// A smooth synthetic picture.
pub fn picture(w: usize, h: usize, seed: u64) -> Image {
    let mut r = lcg(seed);
    let (a, b, c) = (r() * 3.0, r() * 3.0, r() * 6.0);
    let n = w * h;
    let mut data = vec![0f32; 3 * n];
    for ch in 0..3 {
        for y in 0..h {
            for x in 0..w {
                let (fx, fy) = (x as f64 / w as f64, y as f64 / h as f64);
                let v =
                    0.5 + 0.4 * ((a + ch as f64) * fx * 6.0 + (b - ch as f64) * fy * 5.0 + c).sin();
                data[ch * n + y * w + x] = v as f32;
            }
        }
    }
    Image {
        width: w,
        height: h,
        data,
    }
}

/// The real VGG-19 (`stylefarm model fetch`, or STYLEFARM_MODEL).
pub fn real_model_path() -> PathBuf {
    let path = std::env::var_os("STYLEFARM_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(default_model_path);
    assert!(
        path.exists(),
        "no model at {}: run `cargo run -p stylefarm -- model fetch` first",
        path.display()
    );
    path
}

/// The real VGG-19 on the test device, f32.
pub fn real_model() -> Vgg19 {
    Vgg19::load(&real_model_path(), &device(), DType::F32).unwrap()
}

/// An example picture ([`example_image`]) resized to `long_side` pixels.
pub fn example(name: &str, long_side: usize) -> Image {
    Image::load(&example_image(name), 1 << 30)
        .unwrap()
        .resize_long_side(long_side)
}

/// A picture shipped in the repository (`examples/images/`, see its PROVENANCE.md):
/// beside the engine's sources as built, or else under the working directory
/// (a test binary copied to another machine and run from the repository's
/// root, as `scripts/gpu-check` does).
pub fn example_image(name: &str) -> PathBuf {
    let built = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/images")
        .join(name);
    if built.exists() {
        return built;
    }
    PathBuf::from("examples/images").join(name)
}
