//! `stylefarm render`: a job on this machine, through the embedded farm
//! (coordinator, S3 server and workers in this process).

use std::path::{Path, PathBuf};
use std::time::Duration;

use stylefarm_client::{EmbeddedFarm, Farm};
use stylefarm_engine::EngineError;
use stylefarm_spec::JobKind;
use stylefarm_worker::WorkerConfig;

use super::serve::shutdown_signal;
use crate::args::RenderArgs;
use crate::job;
use crate::progress;
use crate::settings::Settings;

pub async fn run(args: RenderArgs, settings: &Settings) -> anyhow::Result<()> {
    let resolved = job::resolve(&args.job, &args.render, &settings.render)?;
    let kind = resolved.job.spec.kind;
    let output = args.output.clone().unwrap_or_else(|| {
        if matches!(kind, JobKind::Grid | JobKind::Gallery) {
            PathBuf::from(kind.as_str())
        } else if kind == JobKind::Video {
            PathBuf::from("out.mp4")
        } else {
            PathBuf::from("out.png")
        }
    });
    // Refused before the farm starts: nothing is uploaded for a bad job.
    resolved.job.check()?;
    resolved.job.check_masks(settings.max_input_pixels)?;
    settings.farm.check()?;
    if !settings.model.exists() {
        return Err(EngineError::ModelMissing {
            path: settings.model.clone(),
        }
        .into());
    }
    let worker = WorkerConfig {
        coordinator: Default::default(),
        name: String::new(),
        device: settings.device.clone(),
        slots: 1,
        model_path: settings.model.clone(),
        max_input_pixels: settings.max_input_pixels,
        lease_wait: Duration::from_secs(2),
        max_memory: None,
        untiled_pixels: None,
    };
    let tune = |c: &mut stylefarm_coordinator::CoordinatorConfig| settings.farm.apply(c);
    let farm = EmbeddedFarm::start(&settings.data_dir, tune, args.workers, worker).await?;
    let result = render_on(
        &farm,
        &resolved,
        settings.max_input_pixels,
        &output,
        args.quiet,
    )
    .await;
    // The render's own error first: a failed submit ends the farm at once,
    // and what the farm says while stopping is secondary.
    let stopped = farm.shutdown().await;
    result.and(stopped.map_err(Into::into))
}

async fn render_on(
    embedded: &EmbeddedFarm,
    resolved: &job::Resolved,
    max_input_pixels: u64,
    output: &Path,
    quiet: bool,
) -> anyhow::Result<()> {
    let mut farm = Farm::connect(&embedded.connection).await?;
    let job_id = farm.submit(&resolved.job, max_input_pixels).await?;
    let job = tokio::select! {
        job = progress::watch(&mut farm, &job_id, quiet) => job?,
        _ = shutdown_signal() => {
            let _ = farm.cancel(&job_id).await;
            anyhow::bail!("interrupted: job {job_id} cancelled");
        }
        why = embedded.worker_stopped() => {
            // The task was released, but no worker is left to take it.
            let _ = farm.cancel(&job_id).await;
            anyhow::bail!("the render's worker stopped: {why}; job {job_id} cancelled");
        }
    };
    let written = farm
        .deliver(&job, output, resolved.animation.as_deref())
        .await?;
    print_written(&written, output, resolved.job.spec.kind);
    Ok(())
}

/// Prints the files written (one per line): the one file asked for and
/// what goes beside it, or the folder; and a video's warping error (on
/// standard error, for people).
pub fn print_written(written: &[PathBuf], output: &Path, kind: JobKind) {
    if let Some(line) = stylefarm_client::warping_error_line(written) {
        eprintln!("{line}");
    }
    if stylefarm_client::is_output_file(kind, output) {
        for p in written {
            println!("{}", p.display());
        }
    } else {
        println!("{}", output.display());
    }
}
