//! Things going wrong: stale attempts, failures, retries, blocked workers.

use std::time::{Duration, Instant};

use stylefarm_proto::pb::{self, JobState, TaskState};
use tonic::Code;

use crate::common::{TestFarm, assert_status, state};

#[tokio::test]
async fn stale_attempt_is_refused_after_its_lease_expired() {
    let farm = TestFarm::start_with(|c| c.lease_timeout = Duration::from_millis(300)).await;
    let job_id = farm.submit(farm.valid_spec().await).await;
    let slow = farm.register("slow").await;
    let fast = farm.register("fast").await;
    let first = farm.lease(&slow, 1000).await.expect("task");
    assert_eq!(first.attempt, 1);

    // The long poll wakes up when the lease expires and re-leases the task.
    let started = Instant::now();
    let second = farm
        .lease(&fast, 5000)
        .await
        .expect("the expired task, re-leased");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "woke at expiry, not at the poll's end"
    );
    assert_eq!(second.task_id, first.task_id);
    assert_eq!(second.attempt, 2);
    assert_eq!(
        second.output_prefix, first.output_prefix,
        "every attempt writes to the same place"
    );

    let stale_key = farm.put_output(&first, "stale.png", b"old").await;
    let stale = farm.complete(&slow, &first, vec![stale_key.clone()]).await;
    let expected = format!(
        "attempt 1 of task {} is stale; attempt 2 holds it",
        first.task_id
    );
    assert_status(stale, Code::FailedPrecondition, &expected);
    assert_status(
        farm.heartbeat(&slow, &first, None).await,
        Code::FailedPrecondition,
        "stale",
    );
    assert_status(
        farm.fail(&slow, &first, "late", false).await,
        Code::FailedPrecondition,
        "stale",
    );

    farm.finish(&fast, &second).await;
    let job = farm.job(&job_id).await;
    assert_eq!(state(&job), JobState::Succeeded);
    assert_eq!(
        job.output_keys,
        vec![format!("{}out.png", second.output_prefix)]
    );
    assert!(
        !job.output_keys.contains(&stale_key),
        "the stale attempt's outputs are ignored"
    );
    // A retried Complete of the winning attempt is idempotent.
    let key = format!("{}out.png", second.output_prefix);
    farm.complete(&fast, &second, vec![key])
        .await
        .expect("repeat complete");
    // The attempts log: the expired one and the winner.
    let attempts = farm.attempts(&first.task_id).await;
    let expected = vec![
        (1, slow.clone(), "expired".to_owned()),
        (2, fast.clone(), "succeeded".to_owned()),
    ];
    assert_eq!(attempts, expected);
}

/// A worker whose lease ran out (it could not reach the coordinator, or its
/// heartbeats were late) but whose task no newer attempt took is still doing
/// good work: its heartbeat takes the lease back and its completion is
/// accepted, also across a coordinator restart.
#[tokio::test]
async fn late_completion_is_accepted_when_no_newer_attempt_took_the_task() {
    let mut farm = TestFarm::start_with(|c| c.lease_timeout = Duration::from_millis(200)).await;
    let job_id = farm.submit(farm.valid_spec().await).await;
    let worker = farm.register("late").await;
    let task = farm.lease(&worker, 1000).await.expect("task");
    let reaped = farm
        .wait_for_job(&job_id, "lease reaped", |j| {
            j.tasks[0].state() == TaskState::Ready
        })
        .await;
    assert_eq!(reaped.tasks[0].attempt, 1, "no newer attempt");

    // Its next heartbeat takes the lease back...
    let beat = farm.heartbeat(&worker, &task, None).await.expect("resumed");
    assert!(!beat.cancel);
    let job = farm.job(&job_id).await;
    assert_eq!(job.tasks[0].state(), TaskState::Leased);
    assert_eq!(job.tasks[0].attempt, 1);
    assert_eq!(
        farm.attempts(&task.task_id).await,
        vec![(1, worker.clone(), "running".to_owned())]
    );
    // ...as a real lease, which the reaper ends again when the beats stop.
    farm.wait_for_job(&job_id, "lease reaped again", |j| {
        j.tasks[0].state() == TaskState::Ready
    })
    .await;
    farm.restart().await;

    farm.finish(&worker, &task).await;
    let job = farm.job(&job_id).await;
    assert_eq!(state(&job), JobState::Succeeded);
    assert_eq!(
        job.output_keys,
        vec![format!("{}out.png", task.output_prefix)]
    );
    assert_eq!(
        farm.attempts(&task.task_id).await,
        vec![(1, worker.clone(), "succeeded".to_owned())],
        "the expired attempt is the one that succeeded"
    );
    // Nothing is left to lease: the work was not handed out again.
    assert!(farm.lease(&worker, 0).await.is_none());
}

/// A late completion is refused once the task failed for good.
#[tokio::test]
async fn late_completion_does_not_revive_a_failed_task() {
    let farm = TestFarm::start_with(|c| {
        c.lease_timeout = Duration::from_millis(200);
        c.max_attempts = 1;
    })
    .await;
    let job_id = farm.submit(farm.valid_spec().await).await;
    let worker = farm.register("late").await;
    let task = farm.lease(&worker, 1000).await.expect("task");
    farm.wait_for_job(&job_id, "failed", |j| state(j) == JobState::Failed)
        .await;
    let key = farm.put_output(&task, "out.png", b"too late").await;
    assert_status(
        farm.complete(&worker, &task, vec![key]).await,
        Code::FailedPrecondition,
        "the task failed",
    );
    assert_eq!(state(&farm.job(&job_id).await), JobState::Failed);
}

#[tokio::test]
async fn expired_leases_use_up_attempts_and_fail_the_job() {
    let farm = TestFarm::start_with(|c| {
        c.lease_timeout = Duration::from_millis(200);
        c.max_attempts = 1;
    })
    .await;
    let job_id = farm.submit(farm.valid_spec().await).await;
    let worker = farm.register("dies").await;
    farm.lease(&worker, 1000).await.expect("task");
    // No heartbeat, and no other worker asking: the reaper must notice.
    let job = farm
        .wait_for_job(&job_id, "failed", |j| state(j) == JobState::Failed)
        .await;
    let expected = format!("worker {worker} stopped heartbeating; gave up after 1 attempts");
    assert!(job.error.contains(&expected), "{}", job.error);
    assert_eq!(job.tasks[0].state(), TaskState::Failed);
    assert!(job.tasks[0].error.contains(&expected));
}

#[tokio::test]
async fn permanent_failure_fails_the_job() {
    let farm = TestFarm::start().await;
    let job_id = farm.submit(farm.valid_spec().await).await;
    let worker = farm.register("w").await;
    let task = farm.lease(&worker, 1000).await.expect("task");
    farm.fail(&worker, &task, "content image is not a PNG", true)
        .await
        .expect("fail");
    let job = farm.job(&job_id).await;
    assert_eq!(state(&job), JobState::Failed);
    assert!(
        job.error.contains("content image is not a PNG"),
        "{}",
        job.error
    );
    assert_eq!(job.tasks[0].state(), TaskState::Failed);
    assert!(
        farm.lease(&worker, 0).await.is_none(),
        "a failed job is not retried"
    );
}

#[tokio::test]
async fn transient_failure_is_retried_after_backoff() {
    let farm = TestFarm::start_with(|c| c.retry_backoff = Duration::from_millis(300)).await;
    let job_id = farm.submit(farm.valid_spec().await).await;
    let worker = farm.register("w").await;
    let task = farm.lease(&worker, 1000).await.expect("task");
    farm.fail(&worker, &task, "CUDA out of memory", false)
        .await
        .expect("fail");
    let job = farm.job(&job_id).await;
    assert_eq!(state(&job), JobState::Running);
    assert_eq!(job.tasks[0].state(), TaskState::Ready);
    assert!(job.tasks[0].error.contains("CUDA out of memory"));

    let failed_at = Instant::now();
    assert!(
        farm.lease(&worker, 0).await.is_none(),
        "not before the backoff"
    );
    let retry = farm.lease(&worker, 5000).await.expect("the retry");
    let waited = failed_at.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "backoff respected: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(4),
        "woke when the backoff ended: {waited:?}"
    );
    assert_eq!(retry.task_id, task.task_id);
    assert_eq!(retry.attempt, 2);
    farm.finish(&worker, &retry).await;
    let job = farm.job(&job_id).await;
    assert_eq!(state(&job), JobState::Succeeded);
    assert_eq!(job.tasks[0].attempt, 2);
}

#[tokio::test]
async fn failing_every_attempt_fails_the_job() {
    let farm = TestFarm::start_with(|c| {
        c.max_attempts = 2;
        c.worker_job_failure_limit = 10;
    })
    .await;
    let job_id = farm.submit(farm.valid_spec().await).await;
    let worker = farm.register("w").await;
    for _ in 0..2 {
        let task = farm.lease(&worker, 2000).await.expect("task");
        farm.fail(&worker, &task, "driver crashed", false)
            .await
            .expect("fail");
    }
    let job = farm.job(&job_id).await;
    assert_eq!(state(&job), JobState::Failed);
    assert!(
        job.error
            .contains("driver crashed; gave up after 2 attempts"),
        "{}",
        job.error
    );
}

#[tokio::test]
async fn worker_that_keeps_failing_a_job_is_kept_away_from_it() {
    let farm = TestFarm::start().await;
    let job_id = farm.submit(farm.valid_spec().await).await;
    let flaky = farm.register("flaky").await;
    let healthy = farm.register("healthy").await;
    for _ in 0..2 {
        let task = farm.lease(&flaky, 2000).await.expect("task");
        farm.fail(&flaky, &task, "bad GPU", false)
            .await
            .expect("fail");
    }
    assert!(
        farm.lease(&flaky, 300).await.is_none(),
        "blocked from this job"
    );
    let task = farm
        .lease(&healthy, 2000)
        .await
        .expect("the other worker gets it");
    assert_eq!(task.job_id, job_id);
    assert_eq!(task.attempt, 3);
    farm.finish(&healthy, &task).await;
    assert_eq!(state(&farm.job(&job_id).await), JobState::Succeeded);

    // The block is per job: other jobs still go to the flaky worker.
    let other = farm.submit(farm.valid_spec().await).await;
    assert_eq!(farm.lease(&flaky, 2000).await.expect("task").job_id, other);
}

#[tokio::test]
async fn blocked_worker_still_gets_the_job_when_it_is_the_only_one() {
    let farm = TestFarm::start().await;
    let job_id = farm.submit(farm.valid_spec().await).await;
    let only = farm.register("only").await;
    for _ in 0..2 {
        let task = farm.lease(&only, 2000).await.expect("task");
        farm.fail(&only, &task, "flaky", false).await.expect("fail");
    }
    let task = farm
        .lease(&only, 2000)
        .await
        .expect("no stall with a single worker");
    assert_eq!(task.attempt, 3);
    farm.finish(&only, &task).await;
    assert_eq!(state(&farm.job(&job_id).await), JobState::Succeeded);
}

#[tokio::test]
async fn release_gives_the_task_back_without_a_failure() {
    let farm = TestFarm::start_with(|c| c.max_attempts = 1).await;
    let job_id = farm.submit(farm.valid_spec().await).await;
    let worker = farm.register("w").await;
    let task = farm.lease(&worker, 1000).await.expect("task");
    let release = pb::ReleaseRequest {
        worker_id: worker.clone(),
        task_id: task.task_id.clone(),
        attempt: 1,
    };
    farm.work.clone().release(release).await.expect("release");
    assert_eq!(farm.job(&job_id).await.tasks[0].state(), TaskState::Ready);
    let again = farm.lease(&worker, 1000).await.expect("leased again");
    assert_eq!(again.attempt, 2);
    // max_attempts = 1, yet the release did not use it up.
    farm.finish(&worker, &again).await;
    assert_eq!(state(&farm.job(&job_id).await), JobState::Succeeded);
}

#[tokio::test]
async fn completion_checks_its_outputs() {
    let farm = TestFarm::start().await;
    let job_id = farm.submit(farm.valid_spec().await).await;
    let worker = farm.register("w").await;
    let task = farm.lease(&worker, 1000).await.expect("task");
    let outside = format!("jobs/{job_id}/elsewhere/out.png");
    farm.store
        .put(&outside, bytes::Bytes::from_static(b"x"))
        .await
        .expect("put");
    assert_status(
        farm.complete(&worker, &task, vec![outside]).await,
        Code::InvalidArgument,
        "output prefix",
    );
    let missing = format!("{}never-written.png", task.output_prefix);
    assert_status(
        farm.complete(&worker, &task, vec![missing]).await,
        Code::InvalidArgument,
        "does not exist",
    );
    assert_status(
        farm.complete(&worker, &task, vec![]).await,
        Code::InvalidArgument,
        "at least 1 output",
    );
    let key = farm.put_output(&task, "out.png", b"ok").await;
    let twice = farm.complete(&worker, &task, vec![key.clone(), key]).await;
    assert_status(twice, Code::InvalidArgument, "twice");
    assert_eq!(
        state(&farm.job(&job_id).await),
        JobState::Running,
        "refused completions change nothing"
    );
    farm.finish(&worker, &task).await;
}
