//! The farm's limits (issue 16): tasks per job, unfinished jobs per client
//! and calls per second per token, each refused with RESOURCE_EXHAUSTED and
//! a message naming the limit.

use stylefarm_proto::pb;
use tonic::Code;

use crate::common::{TestFarm, assert_status, clients};

async fn client_token(farm: &TestFarm, name: &str) -> String {
    farm.admin
        .clone()
        .create_token(pb::CreateTokenRequest {
            name: name.into(),
            role: pb::Role::Client.into(),
            expires_in_seconds: 0,
        })
        .await
        .expect("create token")
        .into_inner()
        .token
}

#[tokio::test]
async fn a_job_with_too_many_tasks_is_refused() {
    let farm = TestFarm::start_with(|c| c.max_tasks_per_job = 5).await;
    // A grid of 9 style weights: 9 cells and a contact sheet.
    let mut spec = farm.valid_spec().await;
    spec.kind = "grid".into();
    spec.steps = 9;
    spec.axis = "weights".into();
    let refused = farm.try_submit(spec.clone()).await;
    assert_status(refused, Code::ResourceExhausted, "max_tasks_per_job");
    // The single job of the same pictures fits.
    farm.submit(farm.valid_spec().await).await;
}

#[tokio::test]
async fn a_client_may_have_only_so_many_unfinished_jobs() {
    let farm = TestFarm::start_with(|c| c.max_queued_jobs_per_client = 2).await;
    let token = client_token(&farm, "erin").await;
    let (mut erin, _, _) = clients(farm.addr, Some(&token)).await;
    let spec = farm.valid_spec().await;
    let submit = |spec: pb::JobSpec| pb::SubmitJobRequest { spec: Some(spec) };
    let first = erin.submit_job(submit(spec.clone())).await.expect("first");
    erin.submit_job(submit(spec.clone())).await.expect("second");
    let third = erin.submit_job(submit(spec.clone())).await;
    assert_status(third, Code::ResourceExhausted, "max_queued_jobs_per_client");
    // Cancelling one makes room; the admin is not limited.
    let job_id = first.into_inner().job_id;
    erin.cancel_job(pb::CancelJobRequest { job_id })
        .await
        .expect("cancel");
    erin.submit_job(submit(spec.clone()))
        .await
        .expect("room again");
    farm.submit(spec.clone()).await;
    farm.submit(spec).await;
}

#[tokio::test]
async fn calls_beyond_the_rate_of_a_token_are_refused() {
    let farm = TestFarm::start_with(|c| c.max_requests_per_second = 2).await;
    let token = client_token(&farm, "frank").await;
    let (mut frank, _, _) = clients(farm.addr, Some(&token)).await;
    // A burst of twice the rate passes; far more in a moment does not.
    let mut refused = None;
    for _ in 0..20 {
        if let Err(status) = frank.list_jobs(pb::ListJobsRequest::default()).await {
            refused = Some(status);
            break;
        }
    }
    let status = refused.expect("20 calls at once were all accepted at 2 per second");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("max_requests_per_second"),
        "{status:?}"
    );
    // The admin is not limited.
    for _ in 0..20 {
        farm.farm
            .clone()
            .list_jobs(pb::ListJobsRequest::default())
            .await
            .expect("admin calls are not limited");
    }
}
