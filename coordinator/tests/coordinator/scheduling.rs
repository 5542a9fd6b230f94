//! Who gets what, when: priorities, long polls, the worker list.

use std::time::{Duration, Instant};

use stylefarm_proto::pb;
use tonic::Code;

use crate::common::{TestFarm, assert_status, within};

#[tokio::test]
async fn higher_priority_first_then_submission_order() {
    let farm = TestFarm::start().await;
    let spec = farm.valid_spec().await;
    let mut ids = Vec::new();
    for priority in [0, 5, 0, 5, -1] {
        let mut s = spec.clone();
        s.priority = priority;
        ids.push(farm.submit(s).await);
    }
    let worker = farm.register("w").await;
    let mut order = Vec::new();
    while let Some(task) = farm.lease(&worker, 0).await {
        order.push(task.job_id.clone());
        farm.finish(&worker, &task).await;
    }
    assert_eq!(
        order,
        vec![
            ids[1].clone(),
            ids[3].clone(),
            ids[0].clone(),
            ids[2].clone(),
            ids[4].clone()
        ]
    );
}

#[tokio::test]
async fn long_poll_wakes_on_submission() {
    let farm = TestFarm::start().await;
    let spec = farm.valid_spec().await;
    let worker = farm.register("w").await;
    let started = Instant::now();
    let (work, w) = (farm.work.clone(), worker.clone());
    let poll = tokio::spawn(async move {
        let mut work = work;
        work.lease(pb::LeaseRequest {
            worker_id: w,
            wait_ms: 8000,
        })
        .await
    });
    // Give the poll a moment to be waiting; correctness does not depend on
    // it (a submission before the wait is found by the first look).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let job_id = farm.submit(spec).await;
    let task = within("the long poll", poll)
        .await
        .expect("join")
        .expect("lease")
        .into_inner()
        .task
        .expect("task");
    assert_eq!(task.job_id, job_id);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "woken by the submission: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn empty_lease_returns_after_the_wait() {
    let farm = TestFarm::start().await;
    let worker = farm.register("w").await;
    let started = Instant::now();
    assert!(farm.lease(&worker, 200).await.is_none());
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(190) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

#[tokio::test]
async fn unknown_worker_must_register() {
    let farm = TestFarm::start().await;
    assert_status(
        farm.try_lease("ghost", 0).await,
        Code::NotFound,
        "Register first",
    );
    assert_status(
        farm.try_lease("", 0).await,
        Code::InvalidArgument,
        "worker_id",
    );
}

#[tokio::test]
async fn register_hands_out_timings_and_no_storage_keys() {
    let farm = TestFarm::start_with(|c| c.heartbeat_interval = Duration::from_millis(1500)).await;
    let request = pb::RegisterRequest {
        name: "gpu-1".into(),
        device: "cuda:0".into(),
        ..Default::default()
    };
    let reg = farm
        .work
        .clone()
        .register(request)
        .await
        .expect("register")
        .into_inner();
    assert!(!reg.worker_id.is_empty());
    assert_eq!(reg.heartbeat_interval_ms, 1500);
    assert_eq!(reg.lease_timeout_ms, 30_000);
    // Workers get presigned URLs per task, never the storage credentials.
    #[allow(deprecated)]
    let storage = reg.storage;
    assert!(storage.is_none(), "{storage:?}");
}

#[tokio::test]
async fn list_workers_shows_liveness_and_held_tasks() {
    let farm = TestFarm::start().await;
    farm.submit(farm.valid_spec().await).await;
    let busy = farm.register("busy").await;
    let idle = farm.register("idle").await;
    let task = farm.lease(&busy, 1000).await.expect("task");
    let workers = farm
        .farm
        .clone()
        .list_workers(pb::ListWorkersRequest {})
        .await
        .expect("list")
        .into_inner()
        .workers;
    assert_eq!(workers.len(), 2);
    let find = |id: &str| {
        workers
            .iter()
            .find(|w| w.worker_id == id)
            .expect("listed")
            .clone()
    };
    let (b, i) = (find(&busy), find(&idle));
    assert_eq!(b.task_ids, vec![task.task_id]);
    assert!(i.task_ids.is_empty());
    assert!(b.alive && i.alive);
    assert_eq!(b.name, "busy");
    assert_eq!(b.device, "cpu");
    assert!(b.last_seen_unix_ms > 0);
}
