//! Schedules with a controlled clock: the loop's step
//! (`Coordinator::fire_schedules_at`) is called with the test's own times,
//! so a day passes without sleeping. The real loop runs too, and finds
//! nothing due: every schedule here fires next in the real future.

use chrono::{DateTime, Utc};
use stylefarm_proto::pb::{self, JobState};
use tonic::Code;

use crate::common::{TestFarm, assert_status, schedules_client, state};

const HOUR: i64 = 3600 * 1000;
const DAY: i64 = 24 * HOUR;

/// Creates a daily 06:00 Berlin schedule of the test's valid spec; returns
/// its first fire time (unix ms).
async fn daily(farm: &TestFarm, name: &str, overlap: pb::Overlap, catch_up_s: u64) -> i64 {
    let created = farm
        .schedules
        .clone()
        .create_schedule(pb::CreateScheduleRequest {
            schedule: Some(pb::Schedule {
                name: name.into(),
                cron: "0 6 * * *".into(),
                time_zone: "Europe/Berlin".into(),
                template: Some(pb::JobSpec {
                    name: "{schedule} {date} {time}".into(),
                    ..farm.valid_spec().await
                }),
                overlap: overlap.into(),
                catch_up_seconds: catch_up_s,
                ..Default::default()
            }),
        })
        .await
        .expect("schedule created")
        .into_inner();
    assert_eq!(created.next_fire_unix_ms.len(), 3);
    let first = created.next_fire_unix_ms[0];
    assert_eq!(
        created.next_fire_unix_ms[1] - first,
        DAY,
        "daily, no DST change ahead in a day"
    );
    first
}

/// The schedule's fires, oldest first: (fire ms, outcome, job id).
async fn fires(farm: &TestFarm, name: &str) -> Vec<(i64, String, String)> {
    let mut fires: Vec<_> = farm
        .schedules
        .clone()
        .get_schedule(pb::GetScheduleRequest {
            name: name.into(),
            fires: 100,
        })
        .await
        .expect("schedule")
        .into_inner()
        .fires
        .into_iter()
        .map(|f| (f.fire_unix_ms, f.outcome, f.job_id))
        .collect();
    fires.reverse();
    fires
}

async fn tick(farm: &TestFarm, at_ms: i64) -> usize {
    farm.coordinator
        .fire_schedules_at(at_ms)
        .await
        .expect("schedule loop step")
}

/// Leases and completes every ready task; returns how many.
async fn finish_all(farm: &TestFarm) -> usize {
    let worker = farm.register("w").await;
    let mut done = 0;
    while let Some(task) = farm.lease(&worker, 0).await {
        farm.finish(&worker, &task).await;
        done += 1;
    }
    done
}

#[tokio::test]
async fn each_fire_time_submits_one_job_named_after_it() {
    let farm = TestFarm::start().await;
    let first = daily(&farm, "morning", pb::Overlap::Allow, 0).await;
    assert_eq!(tick(&farm, first - 1000).await, 0, "not yet");
    assert_eq!(tick(&farm, first + 400).await, 1);
    assert_eq!(
        tick(&farm, first + 900).await,
        0,
        "a fire time is handled once"
    );

    let fired = fires(&farm, "morning").await;
    assert_eq!(fired.len(), 1);
    let (at, outcome, job_id) = &fired[0];
    assert_eq!((*at, outcome.as_str()), (first, "submitted"));
    let job = farm.job(job_id).await;
    let date = DateTime::<Utc>::from_timestamp_millis(first)
        .unwrap()
        .with_timezone(&chrono_tz::Europe::Berlin)
        .format("%Y-%m-%d")
        .to_string();
    assert_eq!(
        job.spec.as_ref().unwrap().name,
        format!("morning {date} 06-00"),
        "{{schedule}} {{date}} {{time}} filled in on Berlin's clock"
    );
    assert_eq!(job.owner, "admin", "submitted as the schedule's owner");

    // The next day's fire is the next job.
    assert_eq!(tick(&farm, first + DAY + 10).await, 1);
    assert_eq!(fires(&farm, "morning").await.len(), 2);
}

#[tokio::test]
async fn overlap_skip_and_buffer_one_wait_for_the_previous_job() {
    let farm = TestFarm::start().await;
    let first = daily(&farm, "skips", pb::Overlap::Skip, 0).await;
    daily(&farm, "buffers", pb::Overlap::BufferOne, 0).await;
    tick(&farm, first).await;
    // Neither first job ran; two more days come.
    tick(&farm, first + DAY).await;
    tick(&farm, first + 2 * DAY).await;
    let outcomes = |f: Vec<(i64, String, String)>| f.into_iter().map(|f| f.1).collect::<Vec<_>>();
    assert_eq!(
        outcomes(fires(&farm, "skips").await),
        ["submitted", "skipped", "skipped"]
    );
    assert_eq!(
        outcomes(fires(&farm, "buffers").await),
        ["submitted", "buffered", "skipped"]
    );

    // Once its first job ends, the buffered fire runs, with the job id of its own time.
    assert_eq!(finish_all(&farm).await, 2, "the two first jobs");
    assert_eq!(tick(&farm, first + 2 * DAY + 1000).await, 1);
    let after = fires(&farm, "buffers").await;
    assert_eq!(
        outcomes(after.clone()),
        ["submitted", "submitted", "skipped"]
    );
    assert_eq!(after[1].0, first + DAY);
    assert_eq!(state(&farm.job(&after[1].2).await), JobState::Queued);
}

#[tokio::test]
async fn overlap_allow_runs_alongside_and_cancel_previous_replaces() {
    let farm = TestFarm::start().await;
    let first = daily(&farm, "together", pb::Overlap::Allow, 0).await;
    daily(&farm, "replaces", pb::Overlap::CancelPrevious, 0).await;
    tick(&farm, first).await;
    tick(&farm, first + DAY).await;
    let together = fires(&farm, "together").await;
    assert!(together.iter().all(|f| f.1 == "submitted"), "{together:?}");
    for f in &together {
        assert_eq!(state(&farm.job(&f.2).await), JobState::Queued);
    }
    let replaces = fires(&farm, "replaces").await;
    assert!(replaces.iter().all(|f| f.1 == "submitted"), "{replaces:?}");
    assert_eq!(state(&farm.job(&replaces[0].2).await), JobState::Cancelled);
    assert_eq!(state(&farm.job(&replaces[1].2).await), JobState::Queued);
}

#[tokio::test]
async fn missed_fires_run_within_the_catch_up_window_and_older_ones_are_recorded() {
    let farm = TestFarm::start().await;
    let first = daily(&farm, "late", pb::Overlap::Allow, 3600).await;
    // The coordinator was "down" until 30 minutes after the first fire:
    // inside the hour of catch-up, so it runs.
    assert_eq!(tick(&farm, first + HOUR / 2).await, 1);
    // Down again over the next fire and two hours past it: missed.
    assert_eq!(tick(&farm, first + DAY + 2 * HOUR).await, 0);
    let fired = fires(&farm, "late").await;
    assert_eq!(fired[0].1, "submitted");
    assert_eq!((fired[1].0, fired[1].1.as_str()), (first + DAY, "missed"));
    let detail = farm
        .schedules
        .clone()
        .get_schedule(pb::GetScheduleRequest {
            name: "late".into(),
            fires: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        detail.fires[0].error.contains("catch-up window is 3600 s"),
        "{:?}",
        detail.fires
    );
    let metrics = crate::http::get(&farm, "/metrics", Some(crate::common::ADMIN))
        .await
        .2;
    let fired = r#"stylefarm_schedule_fires_total{outcome="fired"}"#;
    let missed = r#"stylefarm_schedule_fires_total{outcome="missed"}"#;
    assert_eq!(crate::http::sample(&metrics, fired), 1.0);
    assert_eq!(crate::http::sample(&metrics, missed), 1.0);
}

#[tokio::test]
async fn a_restart_between_fires_neither_repeats_nor_loses_one() {
    let mut farm = TestFarm::start().await;
    let first = daily(&farm, "steady", pb::Overlap::Allow, 0).await;
    assert_eq!(tick(&farm, first + 10).await, 1);
    farm.restart().await;
    assert_eq!(
        tick(&farm, first + 20).await,
        0,
        "the fire was recorded before the restart"
    );

    // A fire recorded but whose job a dying coordinator never stored.
    let lost = first + DAY;
    farm.execute_sql(
        "INSERT INTO schedule_fires (name, fire_ms, outcome, job_id, recorded_ms) VALUES ('steady', $1, 'pending', '', 0)",
        lost,
    )
    .await;
    farm.execute_sql(
        "UPDATE schedules SET next_fire_ms = $1 WHERE name = 'steady'",
        first + 2 * DAY,
    )
    .await;
    farm.restart().await;
    assert_eq!(tick(&farm, lost + 30).await, 1, "stored after the restart");
    assert_eq!(tick(&farm, lost + 40).await, 0, "once");
    let fired = fires(&farm, "steady").await;
    assert_eq!(fired.len(), 2);
    assert_eq!((fired[1].0, fired[1].1.as_str()), (lost, "submitted"));
    farm.job(&fired[1].2).await;
}

#[tokio::test]
async fn backfill_over_a_daylight_saving_day_submits_each_past_fire_once() {
    let farm = TestFarm::start().await;
    let mut schedules = farm.schedules.clone();
    schedules
        .create_schedule(pb::CreateScheduleRequest {
            schedule: Some(pb::Schedule {
                name: "nightly".into(),
                cron: "30 2 * * *".into(),
                time_zone: "Europe/Berlin".into(),
                template: Some(farm.valid_spec().await),
                seed_from_fire_time: true,
                ..Default::default()
            }),
        })
        .await
        .expect("created");
    let utc = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis();
    // Berlin sprang forward on 2026-03-29: 02:30 did not exist that night.
    let backfill = pb::BackfillScheduleRequest {
        name: "nightly".into(),
        from_unix_ms: utc("2026-03-28T00:00:00Z"),
        to_unix_ms: utc("2026-03-30T23:59:59Z"),
    };
    let fired = schedules
        .backfill_schedule(backfill.clone())
        .await
        .expect("backfill")
        .into_inner()
        .fires;
    let times: Vec<i64> = fired.iter().map(|f| f.fire_unix_ms).collect();
    assert_eq!(
        times,
        [
            utc("2026-03-28T01:30:00Z"), // 02:30 CET
            utc("2026-03-29T01:00:00Z"), // 03:00 CEST, right after the gap
            utc("2026-03-30T00:30:00Z"), // 02:30 CEST
        ]
    );
    assert!(fired.iter().all(|f| f.outcome == "submitted" && f.manual));
    // seed = the fire time in seconds.
    let job = farm.job(&fired[1].job_id).await;
    let seed = job.spec.unwrap().settings.unwrap().seed;
    assert_eq!(seed, u64::try_from(times[1] / 1000).unwrap());

    // Again: the same three fires, no new job.
    let again = schedules
        .backfill_schedule(backfill)
        .await
        .unwrap()
        .into_inner()
        .fires;
    assert_eq!(
        again.iter().map(|f| &f.job_id).collect::<Vec<_>>(),
        fired.iter().map(|f| &f.job_id).collect::<Vec<_>>()
    );
    let jobs = farm
        .farm
        .clone()
        .list_jobs(pb::ListJobsRequest { limit: 100 })
        .await
        .unwrap()
        .into_inner()
        .jobs;
    assert_eq!(jobs.len(), 3);
}

#[tokio::test]
async fn run_now_pause_resume_and_delete() {
    let farm = TestFarm::start().await;
    let first = daily(&farm, "manual", pb::Overlap::Skip, 0).await;
    let mut schedules = farm.schedules.clone();
    let fire = schedules
        .run_schedule_now(pb::RunScheduleNowRequest {
            name: "manual".into(),
        })
        .await
        .expect("run now")
        .into_inner();
    assert_eq!(fire.outcome, "submitted");
    assert!(fire.manual);
    assert_eq!(state(&farm.job(&fire.job_id).await), JobState::Queued);

    let paused = schedules
        .set_schedule_paused(pb::SetSchedulePausedRequest {
            name: "manual".into(),
            paused: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(paused.paused && paused.next_fire_unix_ms.is_empty());
    assert_eq!(tick(&farm, first + 10).await, 0, "paused");
    let resumed = schedules
        .set_schedule_paused(pb::SetSchedulePausedRequest {
            name: "manual".into(),
            paused: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        resumed.next_fire_unix_ms[0], first,
        "from the next fire after now (real time)"
    );

    schedules
        .delete_schedule(pb::DeleteScheduleRequest {
            name: "manual".into(),
        })
        .await
        .expect("deleted");
    assert_eq!(tick(&farm, first + 10).await, 0);
    assert_eq!(
        state(&farm.job(&fire.job_id).await),
        JobState::Queued,
        "its jobs stay"
    );
}

#[tokio::test]
async fn bad_schedules_are_refused_naming_the_field() {
    let farm = TestFarm::start().await;
    let mut schedules = farm.schedules.clone();
    let spec = farm.valid_spec().await;
    let make = |name: &str, cron: &str, zone: &str, template: Option<pb::JobSpec>| {
        pb::CreateScheduleRequest {
            schedule: Some(pb::Schedule {
                name: name.into(),
                cron: cron.into(),
                time_zone: zone.into(),
                template,
                ..Default::default()
            }),
        }
    };
    let cases = [
        (make("a", "0 6 * *", "", Some(spec.clone())), Code::InvalidArgument, "cron"),
        (make("a", "0 6 * * 9", "", Some(spec.clone())), Code::InvalidArgument, "cron"),
        (make("a", "* * * * * *", "", Some(spec.clone())), Code::InvalidArgument, "once a minute"),
        (make("a", "0 6 * * *", "Mars/Olympus", Some(spec.clone())), Code::InvalidArgument, "time_zone"),
        (make("a b", "0 6 * * *", "", Some(spec.clone())), Code::InvalidArgument, "name"),
        (make("a", "0 6 * * *", "", None), Code::InvalidArgument, "template"),
        (
            make(
                "a",
                "0 6 * * *",
                "",
                Some(pb::JobSpec {
                    content_key: "inputs/0000000000000000000000000000000000000000000000000000000000000000.png".into(),
                    ..spec.clone()
                }),
            ),
            Code::InvalidArgument,
            "does not exist",
        ),
    ];
    for (request, code, needle) in cases {
        assert_status(schedules.create_schedule(request).await, code, needle);
    }
    daily(&farm, "taken", pb::Overlap::Skip, 0).await;
    assert_status(
        schedules
            .create_schedule(make("taken", "0 7 * * *", "", Some(spec.clone())))
            .await,
        Code::AlreadyExists,
        "exists already",
    );
    // A backfill reaching into the future is refused.
    assert_status(
        schedules
            .backfill_schedule(pb::BackfillScheduleRequest {
                name: "taken".into(),
                from_unix_ms: 0,
                to_unix_ms: i64::MAX / 2,
            })
            .await,
        Code::InvalidArgument,
        "future",
    );
    // Another client sees neither the schedule nor a way to touch it.
    let alice = farm.token("alice", pb::Role::Client).await;
    let mut theirs = schedules_client(farm.addr, &alice).await;
    assert_status(
        theirs
            .run_schedule_now(pb::RunScheduleNowRequest {
                name: "taken".into(),
            })
            .await,
        Code::NotFound,
        "no schedule taken",
    );
    let listed = theirs
        .list_schedules(pb::ListSchedulesRequest {})
        .await
        .unwrap()
        .into_inner()
        .schedules;
    assert!(listed.is_empty());
}
