//! Tokens and roles (issue 16): every call of every service without a token
//! and with the wrong role, clients kept to their own jobs, revocation and
//! expiry without a restart, and token management itself.

use std::time::{Duration, Instant};

use stylefarm_proto::connect::AuthChannel;
use stylefarm_proto::pb::{
    self, admin_client::AdminClient, farm_client::FarmClient, work_client::WorkClient,
};
use tonic::{Code, Status};

use crate::common::{PATIENCE, TestFarm, assert_status, clients};

type Clients = (
    FarmClient<AuthChannel>,
    WorkClient<AuthChannel>,
    AdminClient<AuthChannel>,
);

/// Makes every call of one service with `clients`; returns (call, result
/// as a status: `Ok` where the call got past authorization).
async fn farm_calls(c: &Clients) -> Vec<(&'static str, Result<(), Status>)> {
    let mut f = c.0.clone();
    let id = || "00000000-0000-0000-0000-000000000000".to_string();
    vec![
        (
            "SubmitJob",
            f.submit_job(pb::SubmitJobRequest::default())
                .await
                .map(drop),
        ),
        (
            "GetJob",
            f.get_job(pb::GetJobRequest { job_id: id() })
                .await
                .map(drop),
        ),
        (
            "ListJobs",
            f.list_jobs(pb::ListJobsRequest::default()).await.map(drop),
        ),
        (
            "WatchJob",
            f.watch_job(pb::WatchJobRequest { job_id: id() })
                .await
                .map(drop),
        ),
        (
            "CancelJob",
            f.cancel_job(pb::CancelJobRequest { job_id: id() })
                .await
                .map(drop),
        ),
        (
            "RetryJob",
            f.retry_job(pb::RetryJobRequest { job_id: id() })
                .await
                .map(drop),
        ),
        (
            "ListWorkers",
            f.list_workers(pb::ListWorkersRequest {}).await.map(drop),
        ),
        (
            "ListFiles",
            f.list_files(pb::ListFilesRequest::default())
                .await
                .map(drop),
        ),
        (
            "UploadInput",
            f.upload_input(tokio_stream::iter(vec![pb::UploadChunk {
                file_name: "a.png".into(),
                data: b"png".to_vec(),
                ..Default::default()
            }]))
            .await
            .map(drop),
        ),
        (
            "DownloadOutput",
            f.download_output(pb::DownloadRequest {
                key: format!("jobs/{}/x.png", id()),
            })
            .await
            .map(drop),
        ),
    ]
}

async fn work_calls(c: &Clients) -> Vec<(&'static str, Result<(), Status>)> {
    let mut w = c.1.clone();
    let at = || ("w".to_string(), "t".to_string());
    vec![
        (
            "Register",
            w.register(pb::RegisterRequest::default()).await.map(drop),
        ),
        (
            "Lease",
            w.lease(pb::LeaseRequest {
                worker_id: "w".into(),
                wait_ms: 0,
            })
            .await
            .map(drop),
        ),
        ("Heartbeat", {
            let (worker_id, task_id) = at();
            w.heartbeat(pb::HeartbeatRequest {
                worker_id,
                task_id,
                ..Default::default()
            })
            .await
            .map(drop)
        }),
        ("Complete", {
            let (worker_id, task_id) = at();
            w.complete(pb::CompleteRequest {
                worker_id,
                task_id,
                ..Default::default()
            })
            .await
            .map(drop)
        }),
        ("Fail", {
            let (worker_id, task_id) = at();
            w.fail(pb::FailRequest {
                worker_id,
                task_id,
                ..Default::default()
            })
            .await
            .map(drop)
        }),
        ("Release", {
            let (worker_id, task_id) = at();
            w.release(pb::ReleaseRequest {
                worker_id,
                task_id,
                attempt: 1,
            })
            .await
            .map(drop)
        }),
    ]
}

async fn admin_calls(c: &Clients) -> Vec<(&'static str, Result<(), Status>)> {
    let mut a = c.2.clone();
    vec![
        (
            "CreateToken",
            a.create_token(pb::CreateTokenRequest {
                role: pb::Role::Client.into(),
                ..Default::default()
            })
            .await
            .map(drop),
        ),
        (
            "ListTokens",
            a.list_tokens(pb::ListTokensRequest {}).await.map(drop),
        ),
        (
            "RevokeToken",
            a.revoke_token(pb::RevokeTokenRequest {
                token_id: "0123456789ab".into(),
            })
            .await
            .map(drop),
        ),
    ]
}

/// Asserts that every call was refused with `code`, naming the call and
/// the role it needs.
fn all_refused(calls: Vec<(&str, Result<(), Status>)>, code: Code, role: &str) {
    for (call, result) in calls {
        let status = result.expect_err(call);
        assert_eq!(status.code(), code, "{call}: {status:?}");
        assert!(
            status.message().contains(call) && status.message().contains(role),
            "{call}: the message should name the call and the {role} token: {}",
            status.message()
        );
    }
}

/// Asserts that no call was refused for its token.
fn none_refused(calls: Vec<(&str, Result<(), Status>)>) {
    for (call, result) in calls {
        if let Err(s) = result {
            assert!(
                !matches!(s.code(), Code::Unauthenticated | Code::PermissionDenied),
                "{call} refused: {s:?}"
            );
        }
    }
}

async fn create(farm: &TestFarm, name: &str, role: pb::Role, expires_s: u64) -> (String, String) {
    let created = farm
        .admin
        .clone()
        .create_token(pb::CreateTokenRequest {
            name: name.into(),
            role: role.into(),
            expires_in_seconds: expires_s,
        })
        .await
        .expect("create token")
        .into_inner();
    let info = created.info.expect("info");
    assert_eq!(info.name, name);
    assert_eq!(info.role(), role);
    (created.token, info.token_id)
}

#[tokio::test]
async fn every_call_without_a_token_is_unauthenticated() {
    let farm = TestFarm::start().await;
    let none = clients(farm.addr, None).await;
    all_refused(farm_calls(&none).await, Code::Unauthenticated, "client");
    all_refused(work_calls(&none).await, Code::Unauthenticated, "worker");
    all_refused(admin_calls(&none).await, Code::Unauthenticated, "admin");
    let unknown = clients(farm.addr, Some("sf_not-a-token-of-this-farm")).await;
    for (call, result) in farm_calls(&unknown).await {
        let status = result.expect_err(call);
        assert_eq!(status.code(), Code::Unauthenticated, "{call}");
        assert!(status.message().contains("not known"), "{status:?}");
    }
}

#[tokio::test]
async fn each_role_may_make_its_own_calls_only() {
    let farm = TestFarm::start().await;
    let (client, _) = create(&farm, "alice", pb::Role::Client, 0).await;
    let (worker, _) = create(&farm, "node-1", pb::Role::Worker, 0).await;
    let as_client = clients(farm.addr, Some(&client)).await;
    let as_worker = clients(farm.addr, Some(&worker)).await;
    // A worker token cannot submit, read jobs or manage tokens.
    all_refused(
        farm_calls(&as_worker).await,
        Code::PermissionDenied,
        "client",
    );
    all_refused(
        admin_calls(&as_worker).await,
        Code::PermissionDenied,
        "admin",
    );
    // A client token cannot lease work or manage tokens.
    all_refused(
        work_calls(&as_client).await,
        Code::PermissionDenied,
        "worker",
    );
    all_refused(
        admin_calls(&as_client).await,
        Code::PermissionDenied,
        "admin",
    );
    // Each gets past authorization for its own service; admin everywhere.
    none_refused(farm_calls(&as_client).await);
    none_refused(work_calls(&as_worker).await);
    let admin = clients(farm.addr, Some(crate::common::ADMIN)).await;
    none_refused(farm_calls(&admin).await);
    none_refused(work_calls(&admin).await);
    none_refused(admin_calls(&admin).await);
}

#[tokio::test]
async fn a_client_sees_only_its_own_jobs() {
    let farm = TestFarm::start().await;
    let (alice, _) = create(&farm, "alice", pb::Role::Client, 0).await;
    let (bob, _) = create(&farm, "bob", pb::Role::Client, 0).await;
    let (mut alice_farm, _, _) = clients(farm.addr, Some(&alice)).await;
    let (mut bob_farm, _, _) = clients(farm.addr, Some(&bob)).await;
    let spec = farm.valid_spec().await;
    let job_id = alice_farm
        .submit_job(pb::SubmitJobRequest { spec: Some(spec) })
        .await
        .expect("alice submits")
        .into_inner()
        .job_id;
    let job = alice_farm
        .get_job(pb::GetJobRequest {
            job_id: job_id.clone(),
        })
        .await
        .expect("alice reads her job")
        .into_inner();
    assert_eq!(job.owner, "alice");

    let get = bob_farm
        .get_job(pb::GetJobRequest {
            job_id: job_id.clone(),
        })
        .await;
    assert_status(get, Code::NotFound, "no job");
    let watch = bob_farm
        .watch_job(pb::WatchJobRequest {
            job_id: job_id.clone(),
        })
        .await;
    assert_status(watch.map(drop), Code::NotFound, "no job");
    let cancel = bob_farm
        .cancel_job(pb::CancelJobRequest {
            job_id: job_id.clone(),
        })
        .await;
    assert_status(cancel, Code::NotFound, "no job");
    let download = bob_farm
        .download_output(pb::DownloadRequest {
            key: format!("jobs/{job_id}/out.png"),
        })
        .await;
    assert_status(download.map(drop), Code::NotFound, "no job");
    let listed = |jobs: pb::ListJobsResponse| -> Vec<String> {
        jobs.jobs.into_iter().map(|j| j.job_id).collect()
    };
    let bobs = bob_farm
        .list_jobs(pb::ListJobsRequest::default())
        .await
        .expect("bob lists")
        .into_inner();
    assert!(listed(bobs).is_empty());
    let alices = alice_farm
        .list_jobs(pb::ListJobsRequest::default())
        .await
        .expect("alice lists")
        .into_inner();
    assert_eq!(listed(alices), vec![job_id.clone()]);
    // The job is still queued: bob's cancel did nothing; the admin sees it.
    assert_eq!(farm.job(&job_id).await.state(), pb::JobState::Queued);
    // A second token with alice's name (a rotated token) keeps her jobs.
    let (alice2, _) = create(&farm, "alice", pb::Role::Client, 0).await;
    let (mut alice2_farm, _, _) = clients(farm.addr, Some(&alice2)).await;
    let state = alice2_farm
        .cancel_job(pb::CancelJobRequest { job_id })
        .await
        .expect("alice's new token cancels")
        .into_inner()
        .state();
    assert_eq!(state, pb::JobState::Cancelled);
}

#[tokio::test]
async fn a_revoked_or_expired_token_stops_working_without_a_restart() {
    let farm = TestFarm::start().await;
    let (token, token_id) = create(&farm, "carol", pb::Role::Client, 0).await;
    let (mut carol, _, _) = clients(farm.addr, Some(&token)).await;
    carol
        .list_jobs(pb::ListJobsRequest::default())
        .await
        .expect("works before");
    let revoked = farm
        .admin
        .clone()
        .revoke_token(pb::RevokeTokenRequest {
            token_id: token_id.clone(),
        })
        .await
        .expect("revoke")
        .into_inner()
        .info
        .expect("info");
    assert!(revoked.revoked_unix_ms > 0);
    let after = carol.list_jobs(pb::ListJobsRequest::default()).await;
    assert_status(after, Code::Unauthenticated, "revoked");
    let listed = farm
        .admin
        .clone()
        .list_tokens(pb::ListTokensRequest {})
        .await
        .expect("list")
        .into_inner()
        .tokens;
    let carols = listed
        .iter()
        .find(|t| t.token_id == token_id)
        .expect("listed");
    assert!(carols.revoked_unix_ms > 0);
    let unknown = farm
        .admin
        .clone()
        .revoke_token(pb::RevokeTokenRequest {
            token_id: "ffffffffffff".into(),
        })
        .await;
    assert_status(unknown, Code::InvalidArgument, "token list");

    // Expiry is wall-clock time: a one-second token is refused once the
    // second has passed (polled, at most PATIENCE).
    let (short, _) = create(&farm, "dave", pb::Role::Client, 1).await;
    let (mut dave, _, _) = clients(farm.addr, Some(&short)).await;
    let start = Instant::now();
    let refused = loop {
        match dave.list_jobs(pb::ListJobsRequest::default()).await {
            Ok(_) => {
                assert!(start.elapsed() < PATIENCE, "the token never expired");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => break status,
        }
    };
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    assert!(refused.message().contains("expired"), "{refused:?}");
}

#[tokio::test]
async fn token_requests_are_checked() {
    let farm = TestFarm::start().await;
    let mut admin = farm.admin.clone();
    let bad_name = admin
        .create_token(pb::CreateTokenRequest {
            name: "../etc".into(),
            role: pb::Role::Client.into(),
            expires_in_seconds: 0,
        })
        .await;
    assert_status(bad_name, Code::InvalidArgument, "name");
    let no_role = admin.create_token(pb::CreateTokenRequest::default()).await;
    assert_status(no_role, Code::InvalidArgument, "role");
    // An unnamed token is named for its role and id; the secret is never listed.
    let created = admin
        .create_token(pb::CreateTokenRequest {
            role: pb::Role::Worker.into(),
            ..Default::default()
        })
        .await
        .expect("create")
        .into_inner();
    let info = created.info.expect("info");
    assert_eq!(info.name, format!("worker-{}", info.token_id));
    assert!(created.token.starts_with("sf_") && created.token.len() == 67);
    let listed = format!(
        "{:?}",
        admin
            .list_tokens(pb::ListTokensRequest {})
            .await
            .expect("list")
            .into_inner()
    );
    assert!(listed.contains(&info.token_id));
    assert!(!listed.contains(&created.token[3..]), "a secret was listed");
}

/// A worker belongs to the name of the token that registered it: another
/// worker token cannot lease, heartbeat or report for it (it could steal or
/// fail another machine's tasks); its own token and an admin can.
#[tokio::test]
async fn a_worker_token_cannot_speak_for_another_tokens_worker() {
    let farm = TestFarm::start().await;
    let (a, _) = create(&farm, "node-a", pb::Role::Worker, 0).await;
    let (b, _) = create(&farm, "node-b", pb::Role::Worker, 0).await;
    let as_a = clients(farm.addr, Some(&a)).await;
    let as_b = clients(farm.addr, Some(&b)).await;
    let admin = clients(farm.addr, Some(crate::common::ADMIN)).await;
    let worker_id = as_a
        .1
        .clone()
        .register(pb::RegisterRequest {
            name: "a".into(),
            slots: 1,
            ..Default::default()
        })
        .await
        .expect("register")
        .into_inner()
        .worker_id;
    let lease = |c: &Clients| {
        let mut w = c.1.clone();
        let worker_id = worker_id.clone();
        async move {
            w.lease(pb::LeaseRequest {
                worker_id,
                wait_ms: 0,
            })
            .await
        }
    };
    let e = lease(&as_b)
        .await
        .expect_err("node-b leasing for node-a's worker");
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(
        e.message().contains("node-a") && e.message().contains("node-b"),
        "the refusal should name both tokens: {}",
        e.message()
    );
    let e = as_b
        .1
        .clone()
        .heartbeat(pb::HeartbeatRequest {
            worker_id: worker_id.clone(),
            task_id: "t".into(),
            attempt: 1,
            ..Default::default()
        })
        .await
        .expect_err("node-b heartbeating for node-a's worker");
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    lease(&as_a).await.expect("its own token leases");
    lease(&admin)
        .await
        .expect("an admin may act for any worker");
}
