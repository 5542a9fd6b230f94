//! Client commands against a running farm: submit, watch, get, jobs,
//! workers, cancel.

use std::path::{Path, PathBuf};

use anyhow::Context;
use stylefarm_engine::image::DEFAULT_MAX_PIXELS;
use stylefarm_proto::pb;

use crate::args::{FarmArgs, SubmitArgs};
use crate::client::{self, Client, Submission};
use crate::config::FileConfig;
use crate::job;

pub async fn submit(args: SubmitArgs, config: &FileConfig) -> anyhow::Result<()> {
    let url = coordinator_url(&args.farm, config);
    let mut c = client::connect(&url).await?;
    let request = job::resolve(&args.job, &args.engine, &config.render)?;
    let name = args.name.clone().unwrap_or_else(|| {
        job_name(
            &request.kind,
            request.content.as_deref(),
            &request.engine.styles,
        )
    });
    let max_input_pixels = args
        .max_input_pixels
        .or(config.max_input_pixels)
        .unwrap_or(DEFAULT_MAX_PIXELS);
    let submission = Submission::new(request, name, args.priority, max_input_pixels);
    let job_id = client::submit(&mut c, &submission).await?;
    if !args.wait {
        println!("{job_id}");
        return Ok(());
    }
    eprintln!("job {job_id} submitted");
    let job = client::watch(&mut c, &job_id, args.quiet).await?;
    let dir = args
        .output_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&job_id));
    fetch_outputs(&mut c, &job, &dir).await
}

pub async fn watch(job_id: String, farm: FarmArgs, config: &FileConfig) -> anyhow::Result<()> {
    let mut c = client::connect(&coordinator_url(&farm, config)).await?;
    let job = client::watch(&mut c, &job_id, false).await?;
    println!("job {} {}", job.job_id, client::state_name(job.state()));
    Ok(())
}

pub async fn get(
    job_id: String,
    output: Option<PathBuf>,
    farm: FarmArgs,
    config: &FileConfig,
) -> anyhow::Result<()> {
    let mut c = client::connect(&coordinator_url(&farm, config)).await?;
    let job = get_job(&mut c, &job_id).await?;
    if job.state() != pb::JobState::Succeeded {
        anyhow::bail!(
            "job {job_id} is {}{}: outputs come when it has succeeded (`stylefarm watch {job_id}`)",
            client::state_name(job.state()),
            if job.error.is_empty() {
                String::new()
            } else {
                format!(" ({})", job.error)
            }
        );
    }
    fetch_outputs(
        &mut c,
        &job,
        &output.unwrap_or_else(|| PathBuf::from(&job_id)),
    )
    .await
}

pub async fn jobs(farm: FarmArgs, config: &FileConfig) -> anyhow::Result<()> {
    let mut c = client::connect(&coordinator_url(&farm, config)).await?;
    let jobs = c
        .list_jobs(pb::ListJobsRequest { limit: 50 })
        .await
        .map_err(|s| anyhow::anyhow!("cannot list jobs: {}", s.message()))?
        .into_inner()
        .jobs;
    println!(
        "{:<36}  {:<10}  {:>5}  {:<8}  name",
        "job", "state", "tasks", "priority"
    );
    for j in jobs {
        let done = j
            .tasks
            .iter()
            .filter(|t| t.state() == pb::TaskState::Succeeded)
            .count();
        let spec = j.spec.clone().unwrap_or_default();
        println!(
            "{:<36}  {:<10}  {:>2}/{:<2}  {:<8}  {}",
            j.job_id,
            client::state_name(j.state()),
            done,
            j.tasks.len(),
            spec.priority,
            spec.name
        );
    }
    Ok(())
}

pub async fn workers(farm: FarmArgs, config: &FileConfig) -> anyhow::Result<()> {
    let mut c = client::connect(&coordinator_url(&farm, config)).await?;
    let workers = c
        .list_workers(pb::ListWorkersRequest {})
        .await
        .map_err(|s| anyhow::anyhow!("cannot list workers: {}", s.message()))?
        .into_inner()
        .workers;
    println!(
        "{:<36}  {:<16}  {:<8}  {:>5}  {:>8}  {:>9}  {:<5}  tasks",
        "worker", "name", "device", "slots", "memory", "untiled", "alive"
    );
    for w in workers {
        println!(
            "{:<36}  {:<16}  {:<8}  {:>5}  {:>5.1}GiB  {:>6.2}Mpx  {:<5}  {}",
            w.worker_id,
            w.name,
            w.device,
            w.slots,
            w.memory_bytes as f64 / f64::from(1u32 << 30),
            w.max_untiled_pixels as f64 / 1e6,
            if w.alive { "yes" } else { "no" },
            w.task_ids.join(",")
        );
    }
    Ok(())
}

pub async fn cancel(job_id: String, farm: FarmArgs, config: &FileConfig) -> anyhow::Result<()> {
    let mut c = client::connect(&coordinator_url(&farm, config)).await?;
    let r = c
        .cancel_job(pb::CancelJobRequest {
            job_id: job_id.clone(),
        })
        .await
        .map_err(|s| anyhow::anyhow!("cannot cancel job {job_id}: {}", s.message()))?
        .into_inner();
    println!("job {job_id} {}", client::state_name(r.state()));
    Ok(())
}

async fn get_job(c: &mut Client, job_id: &str) -> anyhow::Result<pb::Job> {
    Ok(c.get_job(pb::GetJobRequest {
        job_id: job_id.to_string(),
    })
    .await
    .map_err(|s| anyhow::anyhow!("cannot read job {job_id}: {}", s.message()))?
    .into_inner())
}

/// Every output of the job into `dir`, keeping the path below `jobs/<id>/`.
async fn fetch_outputs(c: &mut Client, job: &pb::Job, dir: &Path) -> anyhow::Result<()> {
    let prefix = format!("jobs/{}/", job.job_id);
    for key in &job.output_keys {
        let rel = key.strip_prefix(&prefix).unwrap_or(key);
        let dest = dir.join(rel);
        client::download(c, key, &dest)
            .await
            .with_context(|| format!("downloading {key}"))?;
        println!("{}", dest.display());
    }
    Ok(())
}

pub fn coordinator_url(farm: &FarmArgs, config: &FileConfig) -> String {
    farm.coordinator
        .clone()
        .or_else(|| config.coordinator.clone())
        .unwrap_or_else(|| "http://127.0.0.1:7070".into())
}

pub fn job_name(kind: &str, content: Option<&Path>, styles: &[(PathBuf, f64)]) -> String {
    let stem = |p: &Path| {
        p.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let styles: Vec<String> = styles.iter().map(|(p, _)| stem(p)).collect();
    match (kind, content) {
        ("gallery", _) => format!("gallery × {}", styles.join(", ")),
        ("grid", Some(c)) => format!("grid {} × {}", stem(c), styles.join("/")),
        (_, Some(c)) => format!("{} × {}", stem(c), styles.join("+")),
        (_, None) => format!("texture × {}", styles.join("+")),
    }
}
