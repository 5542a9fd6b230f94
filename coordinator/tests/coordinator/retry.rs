//! Retrying a failed job by hand, and workers kept away from a job they
//! failed (shown by ListWorkers as blocked).

use stylefarm_proto::pb;
use tonic::Code;

use crate::common::{TestFarm, assert_status};

async fn blocked(farm: &TestFarm, worker_id: &str) -> Vec<String> {
    farm.farm
        .clone()
        .list_workers(pb::ListWorkersRequest {})
        .await
        .expect("workers")
        .into_inner()
        .workers
        .into_iter()
        .find(|w| w.worker_id == worker_id)
        .expect("listed")
        .blocked_job_ids
}

#[tokio::test]
async fn a_failed_job_retried_runs_again_and_forgives_its_blocked_workers() {
    let farm = TestFarm::start_with(|c| {
        c.worker_job_failure_limit = 1;
        c.max_attempts = 3;
    })
    .await;
    let job_id = farm.submit(farm.valid_spec().await).await;
    let (w1, w2) = (farm.register("w1").await, farm.register("w2").await);

    // w1 fails the task once: it is kept away from the job while w2 lives.
    let task = farm.lease(&w1, 0).await.expect("task");
    farm.fail(&w1, &task, "CUDA error", false).await.unwrap();
    assert_eq!(blocked(&farm, &w1).await, vec![job_id.clone()]);
    assert!(blocked(&farm, &w2).await.is_empty());
    assert!(farm.lease(&w1, 0).await.is_none(), "w1 is blocked from it");

    // w2 fails it for good: the job fails, and nobody is blocked from a
    // finished job.
    let task = farm.lease(&w2, 1000).await.expect("task for w2");
    farm.fail(&w2, &task, "bad input", true).await.unwrap();
    assert_eq!(farm.job(&job_id).await.state(), pb::JobState::Failed);
    assert!(blocked(&farm, &w1).await.is_empty());

    let retried = farm
        .farm
        .clone()
        .retry_job(pb::RetryJobRequest {
            job_id: job_id.clone(),
        })
        .await
        .expect("a failed job is retried")
        .into_inner();
    assert_eq!(retried.tasks_retried, 1);
    let job = farm.job(&job_id).await;
    assert_eq!(job.state(), pb::JobState::Queued);
    assert!(job.error.is_empty(), "{}", job.error);

    // w1 may take it again, with a newer attempt (the fence only grows).
    let again = farm.lease(&w1, 1000).await.expect("w1 forgiven");
    assert!(again.attempt > task.attempt);
    farm.finish(&w1, &again).await;
    assert_eq!(farm.job(&job_id).await.state(), pb::JobState::Succeeded);

    assert_status(
        farm.farm
            .clone()
            .retry_job(pb::RetryJobRequest {
                job_id: job_id.clone(),
            })
            .await
            .map(drop),
        Code::FailedPrecondition,
        "is succeeded; only a failed or cancelled job",
    );
}
