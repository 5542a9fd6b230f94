//! With the `cuda` feature: compiles the engine's own kernels
//! (src/ops/cuda/kernels.cu) to PTX with the nvcc on PATH (or under
//! CUDA_ROOT), for the compute capability in CUDA_COMPUTE_CAP (default 80:
//! PTX that the driver compiles on first load for any newer GPU). Without the
//! feature it does nothing: the CPU build needs no CUDA.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=src/ops/cuda/kernels.cu");
    println!("cargo::rerun-if-env-changed=CUDA_COMPUTE_CAP");
    if std::env::var_os("CARGO_FEATURE_CUDA").is_none() {
        return;
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("kernels.ptx");
    let nvcc = std::env::var_os("CUDA_ROOT")
        .map(|r| PathBuf::from(r).join("bin/nvcc"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("nvcc"));
    let cap = std::env::var("CUDA_COMPUTE_CAP").unwrap_or_else(|_| "80".into());
    let status = Command::new(&nvcc)
        .args(["--ptx", "-O3", "-std=c++17"])
        .arg(format!("-arch=compute_{cap}"))
        .arg("src/ops/cuda/kernels.cu")
        .arg("-o")
        .arg(&out)
        .status()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e} (scripts/build-cuda sets it up)",
                nvcc.display()
            )
        });
    assert!(status.success(), "nvcc failed on src/ops/cuda/kernels.cu");
}
