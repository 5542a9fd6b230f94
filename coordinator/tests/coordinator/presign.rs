//! Presigned URLs for leased tasks (issue 16): a worker reaches exactly the
//! objects of the attempt it holds, and a fenced-out attempt gets nothing.

use bytes::Bytes;
use stylefarm_proto::pb;
use stylefarm_storage::{PresignedClient, StorageError};
use tonic::{Code, Status};

use crate::common::{TestFarm, assert_status};

async fn presign(
    farm: &TestFarm,
    worker_id: &str,
    task: &pb::Task,
    attempt: u32,
    access: pb::ObjectAccess,
    key: &str,
) -> Result<pb::PresignResponse, Status> {
    let request = pb::PresignRequest {
        worker_id: worker_id.into(),
        task_id: task.task_id.clone(),
        attempt,
        access: access.into(),
        keys: vec![key.into()],
    };
    Ok(farm.work.clone().presign(request).await?.into_inner())
}

#[tokio::test]
async fn a_leased_task_reads_its_inputs_and_writes_its_outputs_only() {
    let farm = TestFarm::start().await;
    let spec = farm.valid_spec().await;
    let input = spec.content_key.clone();
    farm.submit(spec).await;
    let worker = farm.register("w").await;
    let task = farm.lease(&worker, 1000).await.expect("a task");
    let http = PresignedClient::new().unwrap();
    let (get, put) = (pb::ObjectAccess::Get, pb::ObjectAccess::Put);

    let read = presign(&farm, &worker, &task, task.attempt, get, &input)
        .await
        .expect("inputs are readable");
    let lease_ends = read.expires_unix_ms;
    assert!(lease_ends > 0);
    let bytes = http.get(&read.urls[0], &input).await.expect("GET works");
    assert_eq!(bytes, Bytes::from_static(b"content pixels"));

    let out = format!("{}out.png", task.output_prefix);
    let write = presign(&farm, &worker, &task, task.attempt, put, &out)
        .await
        .expect("its own prefix is writable");
    http.put(&write.urls[0], &out, Bytes::from_static(b"stylized"))
        .await
        .expect("PUT works");
    farm.complete(&worker, &task, vec![out.clone()])
        .await
        .expect("complete with the output written over the URL");

    // Once the task is done its attempt holds nothing: no more URLs.
    let other_job = "jobs/00000000-0000-0000-0000-000000000000/t/x.png";
    let late = presign(&farm, &worker, &task, task.attempt, get, other_job).await;
    assert_status(late, Code::FailedPrecondition, "stale");
}

#[tokio::test]
async fn keys_outside_the_task_and_fenced_out_attempts_get_no_url() {
    let farm = TestFarm::start().await;
    farm.submit(farm.valid_spec().await).await;
    let worker = farm.register("w").await;
    let task = farm.lease(&worker, 1000).await.expect("a task");
    let (get, put) = (pb::ObjectAccess::Get, pb::ObjectAccess::Put);

    let other_job = "jobs/00000000-0000-0000-0000-000000000000/t/x.png";
    let refused = presign(&farm, &worker, &task, task.attempt, get, other_job).await;
    assert_status(refused, Code::PermissionDenied, "may not read");
    let input = "inputs/0000.png";
    let refused = presign(&farm, &worker, &task, task.attempt, put, input).await;
    assert_status(refused, Code::PermissionDenied, "may not write");
    let sibling = task.output_prefix.replace(&task.task_id, "another-task");
    let refused = presign(
        &farm,
        &worker,
        &task,
        task.attempt,
        put,
        &format!("{sibling}x"),
    )
    .await;
    assert_status(refused, Code::PermissionDenied, "writes below");
    let traversal = format!("{}../../x.png", task.output_prefix);
    let refused = presign(&farm, &worker, &task, task.attempt, put, &traversal).await;
    assert_status(refused, Code::InvalidArgument, "keys");

    // Another attempt number, or another worker: fenced out.
    let stale = presign(&farm, &worker, &task, task.attempt + 1, get, input).await;
    assert_status(stale, Code::FailedPrecondition, "stale");
    let intruder = farm.register("intruder").await;
    let stale = presign(&farm, &intruder, &task, task.attempt, get, input).await;
    assert_status(stale, Code::FailedPrecondition, "stale");
    let no_access = farm
        .work
        .clone()
        .presign(pb::PresignRequest {
            worker_id: worker.clone(),
            task_id: task.task_id.clone(),
            attempt: task.attempt,
            access: 0,
            keys: vec![input.into()],
        })
        .await;
    assert_status(no_access, Code::InvalidArgument, "access");
}

#[tokio::test]
async fn a_url_expires_with_the_lease() {
    let farm =
        TestFarm::start_with(|c| c.lease_timeout = std::time::Duration::from_millis(1500)).await;
    farm.submit(farm.valid_spec().await).await;
    let worker = farm.register("w").await;
    let task = farm.lease(&worker, 1000).await.expect("a task");
    let out = format!("{}out.png", task.output_prefix);
    let signed = presign(
        &farm,
        &worker,
        &task,
        task.attempt,
        pb::ObjectAccess::Put,
        &out,
    )
    .await
    .expect("url");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        signed.expires_unix_ms <= now_ms + 1500,
        "the URL outlives the lease: {} > {}",
        signed.expires_unix_ms,
        now_ms + 1500
    );
    // The worker stops beating; once the lease is gone so is the URL.
    let http = PresignedClient::new().unwrap();
    let job = farm
        .wait_for_job(&task.job_id, "the lease to expire", |j| {
            j.tasks.iter().any(|t| {
                t.task_id == task.task_id
                    && t.attempt == task.attempt
                    && t.state() != pb::TaskState::Leased
            })
        })
        .await;
    assert!(!job.tasks.is_empty());
    let mut refused = None;
    for _ in 0..50 {
        match http
            .put(&signed.urls[0], &out, Bytes::from_static(b"late"))
            .await
        {
            Err(e @ StorageError::Denied { .. }) => {
                refused = Some(e);
                break;
            }
            Ok(()) | Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    let refused = refused.expect("the S3 server kept accepting an expired URL");
    assert!(refused.to_string().contains("expired"), "{refused}");
}
