//! Lease throughput: 16 synthetic workers loop Lease → Complete over real
//! gRPC against a coordinator on a SQLite file, until 10 000 tasks are done.
//!
//! Two rounds, each on a fresh farm:
//! - `no outputs`: "bench" tasks (inserted by `Coordinator::bench_submit`,
//!   which skips planning and validation) complete with zero output keys —
//!   the coordinator's own cost: claim, fence, state changes.
//! - `1 output`: each worker first PUTs one tiny object under the task's
//!   output prefix and completes with it, so Complete also HEADs it in the
//!   embedded S3 server — closer to a real farm, but measures S3 as well.
//!
//! With `--postgres postgres://USER@HOST:PORT` each round gets a new
//! database on that server instead of a SQLite file, and `--coordinators 2`
//! serves it from two coordinators, the workers split between them
//! (`scripts/with-postgres` provides a server: see docs/deploy.md).
//!
//! `cargo bench -p stylefarm-coordinator --bench lease_throughput [-- --tasks N --workers N --only-no-outputs --postgres URL --coordinators N]`

use std::time::{Duration, Instant};

use bytes::Bytes;
use stylefarm_coordinator::{Coordinator, CoordinatorConfig};
use stylefarm_proto::connect::{AuthChannel, Connection};
use stylefarm_proto::pb::{self, farm_client::FarmClient, work_client::WorkClient};
use stylefarm_storage::{EmbeddedS3, Store};
use tokio::sync::oneshot;

/// Concurrent workers (`--workers N` to change).
const DEFAULT_WORKERS: usize = 16;
const DEFAULT_TASKS: usize = 10_000;
/// Tasks per job: the queue holds several jobs, as a farm would.
const TASKS_PER_JOB: usize = 1_000;
const TARGET_TASKS_PER_S: f64 = 2000.0;
const TARGET_P99_MS: f64 = 20.0;
/// The coordinator's admin token, which the benchmark's clients carry.
const TOKEN: &str = "sf_lease-benchmark";

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let number = |flag: &str, default: usize| -> Result<usize, Error> {
        match args.iter().position(|a| a == flag) {
            Some(i) => Ok(args
                .get(i + 1)
                .ok_or(format!("{flag} needs a number"))?
                .parse()?),
            None => Ok(default),
        }
    };
    let setup = Setup {
        tasks: number("--tasks", DEFAULT_TASKS)?,
        workers: number("--workers", DEFAULT_WORKERS)?,
        coordinators: number("--coordinators", 1)?.max(1),
        postgres: args
            .iter()
            .position(|a| a == "--postgres")
            .map(|i| {
                args.get(i + 1)
                    .cloned()
                    .ok_or("--postgres needs a server URL")
            })
            .transpose()?,
    };
    if setup.coordinators > 1 && setup.postgres.is_none() {
        return Err("several coordinators need --postgres (SQLite has one coordinator)".into());
    }
    println!(
        "lease_throughput: {} tasks, {} concurrent workers, Lease → Complete, {} coordinator(s) on {}",
        setup.tasks,
        setup.workers,
        setup.coordinators,
        if setup.postgres.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    println!("target: ≥ {TARGET_TASKS_PER_S} tasks/s, Lease p99 < {TARGET_P99_MS} ms\n");
    round(&setup, false).await?;
    if !args.iter().any(|a| a == "--only-no-outputs") {
        round(&setup, true).await?;
    }
    Ok(())
}

struct Setup {
    tasks: usize,
    workers: usize,
    coordinators: usize,
    /// A PostgreSQL server to make each round's database on.
    postgres: Option<String>,
}

/// A fresh database for one round.
async fn database(setup: &Setup, dir: &std::path::Path) -> Result<String, Error> {
    let Some(server) = &setup.postgres else {
        return Ok(format!("sqlite://{}", dir.join("farm.db").display()));
    };
    let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(server).await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await?;
    Ok(format!("{}/{name}", server.trim_end_matches('/')))
}

/// One farm, filled with `tasks` tasks, drained by the workers.
// Long on purpose: one measured round (farm, tasks, workers, drain, timings)
// in the order its numbers are printed.
async fn round(setup: &Setup, with_outputs: bool) -> Result<(), Error> {
    let (tasks, workers) = (setup.tasks, setup.workers);
    let dir = tempfile::tempdir()?;
    let s3 = EmbeddedS3::start(&dir.path().join("s3"), "127.0.0.1:0".parse()?).await?;
    let storage = s3.storage_config("bench", "");
    let db = database(setup, dir.path()).await?;
    let mut config = CoordinatorConfig::new(db, storage.clone());
    config.admin_token = Some(TOKEN.into());
    let coordinator = Coordinator::open(config.clone()).await?;
    let mut jobs = Vec::new();
    let mut left = tasks;
    while left > 0 {
        let n = left.min(TASKS_PER_JOB);
        jobs.push(coordinator.bench_submit(n, 0).await?);
        left -= n;
    }
    let mut servers = Vec::new();
    let mut addrs = Vec::new();
    for i in 0..setup.coordinators {
        let coordinator = if i == 0 {
            coordinator.clone()
        } else {
            Coordinator::open(config.clone()).await?
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        addrs.push(listener.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(coordinator.serve(listener, async move {
            let _ = stopped.await;
        }));
        servers.push((stop, server));
    }
    let addr = addrs[0];
    let store = Store::connect(storage).await?;

    let started = Instant::now();
    let mut handles = Vec::new();
    for i in 0..workers {
        // Each worker has its own connection, as separate machines would.
        let to = addrs[i % addrs.len()];
        let channel = Connection::new(format!("http://{to}"), Some(TOKEN.into())).lazy()?;
        let store = with_outputs.then(|| store.clone());
        handles.push(tokio::spawn(worker(i, WorkClient::new(channel), store)));
    }
    let mut lease_latencies = Vec::with_capacity(tasks + workers);
    let mut complete_latencies = Vec::with_capacity(tasks);
    for handle in handles {
        let (leases, completes) = handle.await??;
        lease_latencies.extend(leases);
        complete_latencies.extend(completes);
    }
    let elapsed = started.elapsed();

    let done = complete_latencies.len();
    let rate = done as f64 / elapsed.as_secs_f64();
    lease_latencies.sort_unstable();
    complete_latencies.sort_unstable();
    let (p50, p99) = (
        percentile(&lease_latencies, 0.50),
        percentile(&lease_latencies, 0.99),
    );
    let label = if with_outputs {
        "1 output (PUT + HEAD in S3)"
    } else {
        "no outputs"
    };
    println!("[{label}]");
    println!(
        "  {done} tasks in {:.2} s: {rate:.0} tasks/s",
        elapsed.as_secs_f64()
    );
    println!(
        "  Lease    p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  ({} calls)",
        ms(p50),
        ms(p99),
        ms(lease_latencies.last().copied().unwrap_or_default()),
        lease_latencies.len()
    );
    println!(
        "  Complete p50 {:.2} ms  p99 {:.2} ms",
        ms(percentile(&complete_latencies, 0.50)),
        ms(percentile(&complete_latencies, 0.99))
    );
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!(
        "  target: {} tasks/s {}, p99 {} ms {}\n",
        TARGET_TASKS_PER_S,
        verdict(rate >= TARGET_TASKS_PER_S),
        TARGET_P99_MS,
        verdict(ms(p99) < TARGET_P99_MS)
    );

    // Every job must have finished, or the numbers mean nothing.
    let mut farm =
        FarmClient::new(Connection::new(format!("http://{addr}"), Some(TOKEN.into())).lazy()?);
    for job_id in jobs {
        let job = farm
            .get_job(pb::GetJobRequest {
                job_id: job_id.clone(),
            })
            .await?
            .into_inner();
        if job.state() != pb::JobState::Succeeded || job.tasks_done != job.tasks_total {
            return Err(format!(
                "job {job_id} is {:?} with {}/{} tasks",
                job.state(),
                job.tasks_done,
                job.tasks_total
            )
            .into());
        }
    }
    if done != tasks {
        return Err(format!("only {done} of {tasks} tasks completed").into());
    }
    for (stop, server) in servers {
        let _ = stop.send(());
        server.await??;
    }
    s3.shutdown().await;
    Ok(())
}

/// Leases and completes until the queue is empty; returns the latencies.
async fn worker(
    i: usize,
    mut work: WorkClient<AuthChannel>,
    store: Option<Store>,
) -> Result<(Vec<Duration>, Vec<Duration>), Error> {
    let registration = pb::RegisterRequest {
        name: format!("bench-{i}"),
        device: "cpu".into(),
        slots: 1,
        ..Default::default()
    };
    let worker_id = work.register(registration).await?.into_inner().worker_id;
    let (mut leases, mut completes) = (Vec::new(), Vec::new());
    loop {
        let t = Instant::now();
        let request = pb::LeaseRequest {
            worker_id: worker_id.clone(),
            wait_ms: 0,
        };
        let task = work.lease(request).await?.into_inner().task;
        leases.push(t.elapsed());
        // Tasks never come back (nothing fails), so an empty answer means
        // the queue is drained.
        let Some(task) = task else { break };
        let mut output_keys = Vec::new();
        if let Some(store) = &store {
            let key = format!("{}out.bin", task.output_prefix);
            store.put(&key, Bytes::from_static(b"x")).await?;
            output_keys.push(key);
        }
        let t = Instant::now();
        let request = pb::CompleteRequest {
            worker_id: worker_id.clone(),
            task_id: task.task_id,
            attempt: task.attempt,
            output_keys,
        };
        work.complete(request).await?;
        completes.push(t.elapsed());
    }
    Ok((leases, completes))
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let at = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
