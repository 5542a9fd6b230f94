//! The HTTP side: health, readiness (and draining), and /metrics with its
//! token rules and numbers that follow the farm.

use std::time::Duration;

use stylefarm_proto::pb::{self, TaskState};

use crate::common::{ADMIN, TestFarm, state, within};

/// (status, content type, body) of `GET http://addr/path`, with `token` as
/// the bearer token if given.
pub async fn get(
    farm: &TestFarm,
    path: &str,
    token: Option<&str>,
) -> (u16, String, String, Option<String>) {
    // reqwest's rustls needs the process's crypto provider even for http://.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut request = reqwest::Client::new().get(format!("http://{}{path}", farm.http));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = within(path, request.send()).await.expect("HTTP answers");
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header("content-type").unwrap_or_default();
    let challenge = header("www-authenticate");
    let body = response.text().await.expect("body");
    (status, content_type, body, challenge)
}

/// The value of the sample `series` (name and labels exactly as printed).
pub fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {series} in:\n{metrics}"))
        .trim()
        .parse()
        .expect("a number")
}

#[tokio::test]
async fn health_and_readiness_answer_without_a_token_and_readiness_ends_with_the_drain() {
    let mut farm = TestFarm::start().await;
    let (status, _, body, _) = get(&farm, "/healthz", None).await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, _, body, _) = get(&farm, "/readyz", None).await;
    assert_eq!((status, body.as_str()), (200, "ready\n"));
    let (status, ..) = get(&farm, "/nope", None).await;
    assert_eq!(status, 404);

    // gRPC stopped (SIGTERM in the CLI): not ready, but still alive.
    farm.stop().await;
    let (status, _, body, _) = get(&farm, "/readyz", None).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("draining"), "{body}");
    let (status, ..) = get(&farm, "/healthz", None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn metrics_need_a_metrics_or_admin_token() {
    let farm = TestFarm::start().await;
    let (status, _, body, challenge) = get(&farm, "/metrics", None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(challenge.as_deref(), Some("Bearer"));
    assert!(
        body.contains("--role metrics") && body.contains("Authorization: Bearer"),
        "says what to send: {body}"
    );
    let (status, _, body, _) = get(&farm, "/metrics", Some("sf_not-a-token")).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("not known"), "{body}");

    let client = farm.token("alice", pb::Role::Client).await;
    let (status, _, body, _) = get(&farm, "/metrics", Some(&client)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("a metrics or admin token"), "{body}");

    let metrics = farm.token("prometheus", pb::Role::Metrics).await;
    let (status, content_type, body, _) = get(&farm, "/metrics", Some(&metrics)).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    let (status, ..) = get(&farm, "/metrics", Some(ADMIN)).await;
    assert_eq!(status, 200);

    // A metrics token is good for nothing else.
    let (farm_client, ..) = crate::common::clients(farm.addr, Some(&metrics)).await;
    let refused = farm_client
        .clone()
        .list_jobs(pb::ListJobsRequest::default())
        .await
        .expect_err("a metrics token lists no jobs");
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
}

#[tokio::test]
async fn metrics_follow_the_queue_the_workers_and_finished_work() {
    let farm = TestFarm::start().await;
    let scrape = || async { get(&farm, "/metrics", Some(ADMIN)).await.2 };

    let before = scrape().await;
    assert_eq!(sample(&before, "stylefarm_queue_depth"), 0.0);
    assert_eq!(sample(&before, r#"stylefarm_tasks{state="ready"}"#), 0.0);
    assert_eq!(sample(&before, r#"stylefarm_tasks{state="leased"}"#), 0.0);
    assert!(
        !before.contains("stylefarm_workers{"),
        "no workers yet:\n{before}"
    );

    let job_id = farm.submit(farm.valid_spec().await).await;
    let worker = farm.register("w").await;
    let queued = scrape().await;
    assert_eq!(sample(&queued, "stylefarm_queue_depth"), 1.0);
    assert_eq!(sample(&queued, r#"stylefarm_tasks{state="ready"}"#), 1.0);
    assert_eq!(sample(&queued, r#"stylefarm_workers{device="cpu"}"#), 1.0);

    let task = farm.lease(&worker, 1000).await.expect("task");
    let leased = scrape().await;
    assert_eq!(sample(&leased, "stylefarm_queue_depth"), 0.0);
    assert_eq!(sample(&leased, r#"stylefarm_tasks{state="leased"}"#), 1.0);

    farm.finish(&worker, &task).await;
    let done = scrape().await;
    assert_eq!(sample(&done, r#"stylefarm_tasks{state="succeeded"}"#), 1.0);
    assert_eq!(
        sample(
            &done,
            r#"stylefarm_task_duration_seconds_count{kind="stylize"}"#
        ),
        1.0
    );
    assert_eq!(state(&farm.job(&job_id).await), pb::JobState::Succeeded);
    let jobs_done = done
        .lines()
        .filter(|l| {
            l.starts_with("stylefarm_job_duration_seconds_count{")
                && l.contains(r#"state="succeeded""#)
        })
        .collect::<Vec<_>>();
    assert_eq!(jobs_done.len(), 1, "{done}");
    assert!(jobs_done[0].ends_with(" 1"), "{}", jobs_done[0]);
    assert_eq!(sample(&done, "stylefarm_lease_expirations_total"), 0.0);
}

#[tokio::test]
async fn metrics_count_lease_expirations_and_retries() {
    let farm = TestFarm::start_with(|c| c.lease_timeout = Duration::from_millis(200)).await;
    let job_id = farm.submit(farm.valid_spec().await).await;
    let worker = farm.register("dies").await;
    farm.lease(&worker, 1000).await.expect("task");
    farm.wait_for_job(&job_id, "lease reaped", |j| {
        j.tasks[0].state() == TaskState::Ready
    })
    .await;
    let metrics = get(&farm, "/metrics", Some(ADMIN)).await.2;
    assert_eq!(sample(&metrics, "stylefarm_lease_expirations_total"), 1.0);
    assert_eq!(sample(&metrics, "stylefarm_task_retries_total"), 1.0);
    assert_eq!(sample(&metrics, "stylefarm_queue_depth"), 1.0);
}
