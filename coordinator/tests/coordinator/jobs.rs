//! The life of a job: submit, lease, heartbeat, complete, watch, restart.

use stylefarm_proto::pb::{self, JobState, TaskState};
use tokio_stream::StreamExt;
use tonic::Code;

use crate::common::{TestFarm, assert_status, spec, state, within};

#[tokio::test]
async fn upload_submit_lease_heartbeat_complete_succeeds() {
    let farm = TestFarm::start().await;
    let spec = farm.valid_spec().await;
    let job_id = farm.submit(spec.clone()).await;
    let queued = farm.job(&job_id).await;
    assert_eq!(state(&queued), JobState::Queued);
    assert_eq!((queued.tasks_done, queued.tasks_total), (0, 1));
    assert_eq!(queued.tasks.len(), 1);
    assert_eq!(queued.tasks[0].state(), TaskState::Ready);
    assert_eq!(queued.spec.as_ref(), Some(&spec));

    let worker = farm.register("w1").await;
    let task = farm.lease(&worker, 1000).await.expect("a task");
    assert_eq!(task.job_id, job_id);
    // A single job's one task is a stylize of the whole job, complete in itself.
    let Some(pb::task_params::Kind::Stylize(stylize)) =
        task.params.as_ref().and_then(|p| p.kind.clone())
    else {
        panic!("not a stylize task: {:?}", task.params)
    };
    assert_eq!(stylize.content_key, spec.content_key);
    assert_eq!(stylize.styles, spec.styles);
    assert_eq!(stylize.settings, spec.settings);
    assert_eq!(stylize.output_name, "result.png");
    assert!(stylize.tile.is_none() && stylize.previous_scale_key.is_empty());
    assert_eq!(task.attempt, 1);
    assert_eq!(
        task.output_prefix,
        format!("jobs/{job_id}/{}/", task.task_id)
    );
    assert!(task.deadline_unix_ms > 0);

    let progress = pb::Progress {
        iteration: 5,
        iterations: 10,
        total_loss: 42.0,
        ..Default::default()
    };
    let beat = farm
        .heartbeat(&worker, &task, Some(progress.clone()))
        .await
        .expect("heartbeat");
    assert!(!beat.cancel);
    assert!(beat.deadline_unix_ms >= task.deadline_unix_ms);
    let running = farm.job(&job_id).await;
    assert_eq!(state(&running), JobState::Running);
    assert_eq!(running.tasks[0].state(), TaskState::Leased);
    assert_eq!(running.tasks[0].worker_id, worker);
    assert_eq!(running.tasks[0].progress.as_ref(), Some(&progress));

    farm.finish(&worker, &task).await;
    let done = farm.job(&job_id).await;
    assert_eq!(state(&done), JobState::Succeeded, "{done:?}");
    let key = format!("{}out.png", task.output_prefix);
    assert_eq!(done.output_keys, vec![key.clone()]);
    assert_eq!(done.tasks[0].output_keys, vec![key.clone()]);
    assert_eq!(done.tasks[0].state(), TaskState::Succeeded);
    assert_eq!(done.tasks_done, 1);
    assert!(done.finished_unix_ms >= done.created_unix_ms);

    // The client fetches the output through the coordinator.
    let (_, bytes) = farm.download(&key).await.expect("download");
    assert_eq!(bytes, b"stylized");

    let listed = farm
        .farm
        .clone()
        .list_jobs(pb::ListJobsRequest { limit: 0 })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.jobs.len(), 1);
    assert_eq!(listed.jobs[0].job_id, job_id);
    assert_eq!(listed.jobs[0].output_keys, done.output_keys);
    // Nothing left to do.
    assert!(farm.lease(&worker, 0).await.is_none());
}

#[tokio::test]
async fn list_jobs_is_newest_first_and_limited() {
    let farm = TestFarm::start().await;
    let spec = farm.valid_spec().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(farm.submit(spec.clone()).await);
    }
    let listed = farm
        .farm
        .clone()
        .list_jobs(pb::ListJobsRequest { limit: 2 })
        .await
        .expect("list")
        .into_inner();
    let listed: Vec<_> = listed.jobs.iter().map(|j| j.job_id.as_str()).collect();
    assert_eq!(listed, vec![ids[2].as_str(), ids[1].as_str()]);
}

#[tokio::test]
async fn bad_specs_are_invalid_argument_naming_the_field() {
    let farm = TestFarm::start().await;
    let good = farm.valid_spec().await;
    type Breaker = Box<dyn Fn(&mut pb::JobSpec)>;
    let cases: Vec<(&str, Breaker)> = vec![
        ("kind", Box::new(|s| s.kind = "movie".into())),
        // A video job without its video (and with a content picture).
        ("video", Box::new(|s| s.kind = "video".into())),
        (
            "settings.style_layers[1]",
            Box::new(|s| s.settings.as_mut().unwrap().style_layers[1].layer = "relu9_1".into()),
        ),
        (
            "settings.size",
            Box::new(|s| s.settings.as_mut().unwrap().size = 4),
        ),
        ("styles", Box::new(|s| s.styles.clear())),
        (
            "settings.optimizer",
            Box::new(|s| s.settings.as_mut().unwrap().optimizer = "sgd".into()),
        ),
        (
            "content_key",
            Box::new(|s| s.content_key = "jobs/../x.png".into()),
        ),
        ("settings", Box::new(|s| s.settings = None)),
    ];
    for (field, break_it) in cases {
        let mut bad = good.clone();
        break_it(&mut bad);
        assert_status(
            farm.try_submit(bad).await,
            Code::InvalidArgument,
            &format!("{field}: "),
        );
    }
    let none = farm
        .farm
        .clone()
        .submit_job(pb::SubmitJobRequest { spec: None })
        .await;
    assert_status(none, Code::InvalidArgument, "spec");
    let listed = farm
        .farm
        .clone()
        .list_jobs(pb::ListJobsRequest { limit: 0 })
        .await
        .expect("list")
        .into_inner();
    assert!(listed.jobs.is_empty(), "no refused job is stored");
}

#[tokio::test]
async fn missing_input_key_is_refused() {
    let farm = TestFarm::start().await;
    let style = farm.upload("style.png", b"style").await.input_key;
    let missing = format!("inputs/{}.png", "ab".repeat(32));
    let result = farm.try_submit(spec(&missing, &style)).await;
    assert_status(result, Code::InvalidArgument, &missing);
    let result = farm.try_submit(spec(&style, &missing)).await;
    assert_status(
        result,
        Code::InvalidArgument,
        "upload it with UploadInput first",
    );
}

#[tokio::test]
async fn unknown_job_is_not_found() {
    let farm = TestFarm::start().await;
    let get = farm
        .farm
        .clone()
        .get_job(pb::GetJobRequest {
            job_id: "nope".into(),
        })
        .await;
    assert_status(get, Code::NotFound, "nope");
    let watch = farm
        .farm
        .clone()
        .watch_job(pb::WatchJobRequest {
            job_id: "nope".into(),
        })
        .await;
    assert_status(watch.map(|_| ()), Code::NotFound, "nope");
    assert_status(farm.cancel("nope").await, Code::NotFound, "nope");
    let empty = farm
        .farm
        .clone()
        .get_job(pb::GetJobRequest {
            job_id: String::new(),
        })
        .await;
    assert_status(empty, Code::InvalidArgument, "job_id");
}

#[tokio::test]
async fn watch_job_streams_until_completion() {
    let farm = TestFarm::start().await;
    let job_id = farm.submit(farm.valid_spec().await).await;
    let mut events = farm
        .farm
        .clone()
        .watch_job(pb::WatchJobRequest {
            job_id: job_id.clone(),
        })
        .await
        .expect("watch")
        .into_inner();
    let first = within("first event", events.next())
        .await
        .expect("an event")
        .expect("ok");
    assert_eq!(first.job_state(), JobState::Queued);
    assert_eq!((first.tasks_done, first.tasks_total), (0, 1));

    let worker = farm.register("w").await;
    let task = farm.lease(&worker, 1000).await.expect("task");
    let leased = within("lease event", events.next())
        .await
        .expect("an event")
        .expect("ok");
    assert_eq!(leased.job_state(), JobState::Running);
    assert_eq!(
        leased.task.as_ref().map(|t| t.state()),
        Some(TaskState::Leased)
    );

    let progress = pb::Progress {
        iteration: 3,
        iterations: 10,
        converged: true,
        ..Default::default()
    };
    farm.heartbeat(&worker, &task, Some(progress.clone()))
        .await
        .expect("heartbeat");
    let beat = within("progress event", events.next())
        .await
        .expect("an event")
        .expect("ok");
    assert_eq!(
        beat.task.as_ref().and_then(|t| t.progress.clone()),
        Some(progress)
    );

    farm.finish(&worker, &task).await;
    let last = within("final event", events.next())
        .await
        .expect("an event")
        .expect("ok");
    assert_eq!(last.job_state(), JobState::Succeeded);
    assert_eq!(last.tasks_done, 1);
    assert!(
        within("stream end", events.next()).await.is_none(),
        "the stream ends after the terminal state"
    );

    // Watching a finished job gives its state and ends.
    let mut again = farm
        .farm
        .clone()
        .watch_job(pb::WatchJobRequest { job_id })
        .await
        .expect("watch")
        .into_inner();
    let only = within("snapshot", again.next())
        .await
        .expect("event")
        .expect("ok");
    assert_eq!(only.job_state(), JobState::Succeeded);
    assert!(within("stream end", again.next()).await.is_none());
}

#[tokio::test]
async fn restart_on_the_same_database_loses_nothing() {
    let mut farm = TestFarm::start().await;
    let spec = farm.valid_spec().await;
    let first = farm.submit(spec.clone()).await;
    let second = farm.submit(spec).await;
    let worker = farm.register("w").await;
    let held = farm.lease(&worker, 1000).await.expect("task");
    assert_eq!(held.job_id, first);

    farm.restart().await;

    let job = farm.job(&first).await;
    assert_eq!(state(&job), JobState::Running);
    assert_eq!(job.tasks[0].attempt, 1);
    assert_eq!(state(&farm.job(&second).await), JobState::Queued);
    // The worker and its lease survived: it can beat, finish, and lease more.
    assert!(
        !farm
            .heartbeat(&worker, &held, None)
            .await
            .expect("heartbeat after restart")
            .cancel
    );
    farm.finish(&worker, &held).await;
    assert_eq!(state(&farm.job(&first).await), JobState::Succeeded);
    let next = farm
        .lease(&worker, 1000)
        .await
        .expect("second job still leasable");
    assert_eq!(next.job_id, second);
    farm.finish(&worker, &next).await;
    assert_eq!(state(&farm.job(&second).await), JobState::Succeeded);
}

#[tokio::test]
async fn cancellation_is_seen_at_the_next_heartbeat() {
    let farm = TestFarm::start().await;
    let job_id = farm.submit(farm.valid_spec().await).await;
    let worker = farm.register("w").await;
    let task = farm.lease(&worker, 1000).await.expect("task");

    assert_eq!(
        farm.cancel(&job_id).await.expect("cancel"),
        JobState::Cancelled
    );
    let job = farm.job(&job_id).await;
    assert_eq!(state(&job), JobState::Cancelled);
    assert_eq!(job.tasks[0].state(), TaskState::Cancelled);

    let beat = farm
        .heartbeat(&worker, &task, None)
        .await
        .expect("heartbeat");
    assert!(beat.cancel, "the worker is told to stop");
    let key = farm.put_output(&task, "out.png", b"late").await;
    assert_status(
        farm.complete(&worker, &task, vec![key]).await,
        Code::FailedPrecondition,
        "cancelled",
    );
    // Acknowledging by Fail is accepted and changes nothing.
    farm.fail(&worker, &task, "stopped", false)
        .await
        .expect("fail after cancel");
    assert_eq!(state(&farm.job(&job_id).await), JobState::Cancelled);
    assert_eq!(
        farm.cancel(&job_id).await.expect("again"),
        JobState::Cancelled
    );
    assert!(farm.lease(&worker, 0).await.is_none());

    // Cancelling a finished job is a no-op that reports its state.
    let done_id = farm.submit(farm.valid_spec().await).await;
    let task = farm.lease(&worker, 1000).await.expect("task");
    farm.finish(&worker, &task).await;
    assert_eq!(
        farm.cancel(&done_id).await.expect("cancel"),
        JobState::Succeeded
    );
    assert_eq!(state(&farm.job(&done_id).await), JobState::Succeeded);
}

#[tokio::test]
async fn in_memory_database_works() {
    let farm = TestFarm::start_with(|c| c.db_url = "sqlite::memory:".into()).await;
    let job_id = farm.submit(farm.valid_spec().await).await;
    let worker = farm.register("w").await;
    let task = farm.lease(&worker, 1000).await.expect("task");
    farm.finish(&worker, &task).await;
    assert_eq!(state(&farm.job(&job_id).await), JobState::Succeeded);
}
