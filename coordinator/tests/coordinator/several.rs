//! Several coordinators over one PostgreSQL database: any of them takes
//! jobs, leases and completions; events and wake-ups reach the others. Run
//! against PostgreSQL by `scripts/test` (through `scripts/with-postgres`);
//! on SQLite, which has one coordinator, these tests say so and pass.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use stylefarm_proto::pb::{self, JobState};
use tokio_stream::StreamExt;

use crate::common::{POSTGRES_ENV, TestFarm, state, within};

fn on_postgres() -> bool {
    let on = std::env::var(POSTGRES_ENV).is_ok_and(|v| !v.is_empty());
    if !on {
        eprintln!("several coordinators need PostgreSQL: {POSTGRES_ENV} is unset, nothing to test");
    }
    on
}

#[tokio::test]
async fn a_job_submitted_to_one_coordinator_is_leased_watched_and_finished_through_another() {
    if !on_postgres() {
        return;
    }
    let a = TestFarm::start().await;
    let b = a.peer().await;
    let worker = b.register("w-on-b").await;

    // A long poll on B, asked before the job exists (the spec's uploads
    // come first): only A's note wakes it before its 20 s run out.
    let asked = Instant::now();
    let (task, job_id) = tokio::join!(b.lease(&worker, 20_000), async {
        let spec = a.valid_spec().await;
        a.submit(spec).await
    });
    let task = task.expect("B leases the job A took");
    assert_eq!(task.job_id, job_id);
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "the long poll on B woke only after {:?}",
        asked.elapsed()
    );

    // A watcher on A follows what happens on B.
    let mut events = a
        .farm
        .clone()
        .watch_job(pb::WatchJobRequest {
            job_id: job_id.clone(),
        })
        .await
        .expect("watch on A")
        .into_inner();
    let first = within("snapshot", events.next()).await.unwrap().unwrap();
    assert_eq!(first.job_state(), JobState::Running);
    b.finish(&worker, &task).await;
    let mut last = first;
    while last.job_state() != JobState::Succeeded {
        last = within("the relayed success", events.next())
            .await
            .expect("the stream goes on")
            .expect("an event");
    }
    assert_eq!((last.tasks_done, last.tasks_total), (1, 1));
    assert_eq!(state(&a.job(&job_id).await), JobState::Succeeded);
}

#[tokio::test]
async fn workers_on_two_coordinators_claim_side_by_side_and_each_task_runs_once() {
    if !on_postgres() {
        return;
    }
    let a = TestFarm::start().await;
    let b = a.peer().await;
    let spec = a.valid_spec().await;
    let mut jobs = Vec::new();
    for _ in 0..12 {
        jobs.push(a.submit(spec.clone()).await);
    }
    let (on_a, on_b) = tokio::join!(
        drain(&a, a.register("w-a").await),
        drain(&b, b.register("w-b").await),
    );
    let all: Vec<_> = on_a.iter().chain(&on_b).cloned().collect();
    let distinct: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 12, "a: {on_a:?}, b: {on_b:?}");
    assert_eq!(distinct.len(), 12, "a task was leased twice: {all:?}");
    for job_id in &jobs {
        let job = b.job(job_id).await;
        assert_eq!(state(&job), JobState::Succeeded, "{job:?}");
        let attempts = a.attempts(&job.tasks[0].task_id).await;
        assert_eq!(attempts.len(), 1, "{attempts:?}");
        assert_eq!(attempts[0].2, "succeeded");
    }
}

/// Leases and finishes tasks through `coordinator` until none is left;
/// returns the task ids.
async fn drain(coordinator: &TestFarm, worker: String) -> Vec<String> {
    let mut done = Vec::new();
    while let Some(task) = coordinator.lease(&worker, 0).await {
        coordinator.finish(&worker, &task).await;
        done.push(task.task_id);
    }
    done
}
