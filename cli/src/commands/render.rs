//! `stylefarm render`: one picture on this machine, through the embedded
//! farm (coordinator, S3 server and workers in this process).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use stylefarm_engine::image::DEFAULT_MAX_PIXELS;
use stylefarm_engine::{EngineError, Image, Scales};
use stylefarm_proto::pb;
use stylefarm_worker::WorkerConfig;

use super::model;
use super::serve::shutdown_signal;
use crate::args::RenderArgs;
use crate::client::{self, Submission};
use crate::config::FileConfig;
use crate::embedded::{EmbeddedFarm, default_data_dir};
use crate::job;

pub async fn run(args: RenderArgs, config: &FileConfig) -> anyhow::Result<()> {
    let request = job::resolve(&args.job, &args.engine, &config.render)?;
    let kind = request.kind.clone();
    let many = matches!(kind.as_str(), "grid" | "gallery");
    let output = args.output.clone().unwrap_or_else(|| {
        if many {
            PathBuf::from(&kind)
        } else {
            PathBuf::from("out.png")
        }
    });
    let max_input_pixels = args
        .max_input_pixels
        .or(config.max_input_pixels)
        .unwrap_or(DEFAULT_MAX_PIXELS);
    let model_path = model::resolve(args.model.as_deref(), config);
    if !model_path.exists() {
        return Err(EngineError::ModelMissing { path: model_path }.into());
    }
    let worker = WorkerConfig {
        coordinator: String::new(),
        name: String::new(),
        device: args
            .device
            .clone()
            .or_else(|| config.device.clone())
            .unwrap_or_else(|| "cpu".into()),
        slots: 1,
        model_path,
        max_input_pixels,
        lease_wait: Duration::from_secs(2),
        max_memory: None,
        untiled_pixels: None,
    };
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| config.data_dir.clone())
        .unwrap_or_else(default_data_dir);
    let farm = EmbeddedFarm::start(&data_dir, args.workers, worker).await?;
    let multi_scale = request.engine.settings.scales != Scales::Single;
    let animation = request.engine.animation.clone();
    let submission = Submission::new(
        request,
        format!("render {}", output.display()),
        0,
        max_input_pixels,
    );
    let result = render_on(
        &farm.url,
        &submission,
        &output,
        animation.as_deref(),
        multi_scale,
        many,
        args.quiet,
    )
    .await;
    // The render's own error first: a failed submit ends the farm at once,
    // and what the farm says while stopping is secondary.
    let stopped = farm.shutdown().await;
    result.and(stopped)
}

async fn render_on(
    url: &str,
    submission: &Submission,
    output: &Path,
    animation: Option<&Path>,
    multi_scale: bool,
    many: bool,
    quiet: bool,
) -> anyhow::Result<()> {
    let mut c = client::connect(url).await?;
    let job_id = client::submit(&mut c, submission).await?;
    let job = tokio::select! {
        job = client::watch(&mut c, &job_id, quiet) => job?,
        _ = shutdown_signal() => {
            let _ = c.cancel_job(pb::CancelJobRequest { job_id: job_id.clone() }).await;
            anyhow::bail!("interrupted: job {job_id} cancelled");
        }
    };
    if many {
        // Grids and galleries: every output into the folder, by its name
        // below the task's prefix (sheet.png, cells/…, gallery/…).
        for key in &job.output_keys {
            let rel = key.splitn(4, '/').nth(3).unwrap_or(key);
            let dest = output.join(rel);
            client::download(&mut c, key, &dest).await?;
        }
        println!("{}", output.display());
        return Ok(());
    }
    for key in &job.output_keys {
        let name = key.rsplit('/').next().unwrap_or_default();
        if name == "result.png" {
            save_result(&mut c, key, output).await?;
            println!("{}", output.display());
        } else if name == "animation.gif" {
            if let Some(path) = animation {
                client::download(&mut c, key, path).await?;
                println!("{}", path.display());
            }
        } else if key.contains("/snapshots/") {
            let dest = snapshot_path(output, name, multi_scale);
            client::download(&mut c, key, &dest).await?;
        }
    }
    Ok(())
}

/// The PNG as is, or re-encoded when the output asks for another format.
async fn save_result(c: &mut client::Client, key: &str, output: &Path) -> anyhow::Result<()> {
    let is_png = output
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if is_png {
        return client::download(c, key, output).await;
    }
    let tmp = output.with_extension("download.png");
    client::download(c, key, &tmp).await?;
    let img = Image::load(&tmp, u64::MAX);
    let _ = std::fs::remove_file(&tmp);
    img?.save(output)
        .with_context(|| format!("writing {}", output.display()))
}

/// Snapshot `2-000100.png` of `out.png` → `out_100.png`, or `out_2_100.png`
/// when the render has several scales.
fn snapshot_path(output: &Path, name: &str, multi_scale: bool) -> PathBuf {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let base = name.trim_end_matches(".png");
    let (scale, iter) = base.split_once('-').unwrap_or(("1", base));
    let iter = iter.trim_start_matches('0');
    let file = if multi_scale {
        format!("{stem}_{scale}_{iter}.png")
    } else {
        format!("{stem}_{iter}.png")
    };
    output.with_file_name(file)
}
