//! Client commands against a running farm: submit, watch, get, jobs,
//! workers, cancel.

use std::path::{Path, PathBuf};

use stylefarm_client::{Farm, state_name};
use stylefarm_proto::pb;

use crate::args::SubmitArgs;
use crate::job;
use crate::progress;
use crate::settings::Settings;

pub async fn submit(args: SubmitArgs, settings: &Settings) -> anyhow::Result<()> {
    let mut resolved = job::resolve(&args.job, &args.render, &settings.render)?;
    let spec = &mut resolved.job.spec;
    if let Some(name) = &args.name {
        spec.name.clone_from(name);
    }
    spec.priority = args.priority.unwrap_or(spec.priority);
    resolved.job.check()?;
    let mut farm = Farm::connect(&settings.connection()?).await?;
    let job_id = farm
        .submit(&resolved.job, settings.max_input_pixels)
        .await?;
    if !args.wait {
        println!("{job_id}");
        return Ok(());
    }
    eprintln!("job {job_id} submitted");
    let job = progress::watch(&mut farm, &job_id, args.quiet).await?;
    let dest = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(&job_id));
    deliver(&mut farm, &job, &dest).await
}

pub async fn watch(job_id: String, settings: &Settings) -> anyhow::Result<()> {
    let mut farm = Farm::connect(&settings.connection()?).await?;
    let job_id = farm.resolve_job_id(&job_id).await?;
    let job = progress::watch(&mut farm, &job_id, false).await?;
    println!("job {} {}", job.job_id, state_name(job.state()));
    Ok(())
}

pub async fn get(
    job_id: String,
    output: Option<PathBuf>,
    settings: &Settings,
) -> anyhow::Result<()> {
    let mut farm = Farm::connect(&settings.connection()?).await?;
    let job_id = farm.resolve_job_id(&job_id).await?;
    let job = farm.get_job(&job_id).await?;
    if job.state() != pb::JobState::Succeeded {
        anyhow::bail!(
            "job {job_id} is {}{}: outputs come when it has succeeded (`stylefarm watch {job_id}`)",
            state_name(job.state()),
            if job.error.is_empty() {
                String::new()
            } else {
                format!(" ({})", job.error)
            }
        );
    }
    let dest = output.unwrap_or_else(|| PathBuf::from(&job_id));
    deliver(&mut farm, &job, &dest).await
}

pub async fn jobs(settings: &Settings) -> anyhow::Result<()> {
    let mut farm = Farm::connect(&settings.connection()?).await?;
    let jobs = farm.list_jobs(50).await?;
    println!(
        "{:<36}  {:<10}  {:>5}  {:<8}  name",
        "job", "state", "tasks", "priority"
    );
    for j in jobs {
        // Listings carry no tasks (a job may have thousands): the counters do.
        let spec = j.spec.clone().unwrap_or_default();
        println!(
            "{:<36}  {:<10}  {:>2}/{:<2}  {:<8}  {}",
            j.job_id,
            state_name(j.state()),
            j.tasks_done,
            j.tasks_total,
            spec.priority,
            spec.name
        );
    }
    Ok(())
}

pub async fn workers(settings: &Settings) -> anyhow::Result<()> {
    let mut farm = Farm::connect(&settings.connection()?).await?;
    let workers = farm.list_workers().await?;
    println!(
        "{:<36}  {:<16}  {:<8}  {:>5}  {:>8}  {:>9}  {:<5}  tasks (blocked from jobs)",
        "worker", "name", "device", "slots", "memory", "untiled", "alive"
    );
    for w in workers {
        println!(
            "{:<36}  {:<16}  {:<8}  {:>5}  {:>5.1}GiB  {:>6.2}Mpx  {:<5}  {}{}",
            w.worker_id,
            w.name,
            w.device,
            w.slots,
            w.memory_bytes as f64 / f64::from(1u32 << 30),
            w.max_untiled_pixels as f64 / 1e6,
            if w.alive { "yes" } else { "no" },
            w.task_ids.join(","),
            if w.blocked_job_ids.is_empty() {
                String::new()
            } else {
                format!(" (blocked from {})", w.blocked_job_ids.join(","))
            }
        );
    }
    Ok(())
}

pub async fn cancel(job_id: String, settings: &Settings) -> anyhow::Result<()> {
    let mut farm = Farm::connect(&settings.connection()?).await?;
    let job_id = farm.resolve_job_id(&job_id).await?;
    let state = farm.cancel(&job_id).await?;
    println!("job {job_id} {}", state_name(state));
    Ok(())
}

pub async fn retry(job_id: String, settings: &Settings) -> anyhow::Result<()> {
    let mut farm = Farm::connect(&settings.connection()?).await?;
    let job_id = farm.resolve_job_id(&job_id).await?;
    let tasks = farm.retry(&job_id).await?;
    println!(
        "job {job_id} queued again ({tasks} task(s) to run); follow it with `stylefarm watch {job_id}`"
    );
    Ok(())
}

/// The job's outputs at `dest` (a picture file or a folder), named for
/// people; prints what was written.
async fn deliver(farm: &mut Farm, job: &pb::Job, dest: &Path) -> anyhow::Result<()> {
    let written = farm.deliver(job, dest, None).await?;
    let kind = job
        .spec
        .as_ref()
        .and_then(|s| s.kind.parse().ok())
        .unwrap_or(stylefarm_spec::JobKind::Single);
    super::render::print_written(&written, dest, kind);
    Ok(())
}
