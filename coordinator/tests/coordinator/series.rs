//! Art series: content photos chosen at each fire from the owner's files,
//! finished runs published under series/NAME/ with an index page, and who
//! may see them. The loop's step is called with the test's own clock.

use std::io::Cursor;

use chrono::{DateTime, Utc};
use stylefarm_proto::pb;
use tonic::Code;

use crate::common::{TestFarm, assert_status, clients, schedules_client, spec};

const DAY: i64 = 24 * 3600 * 1000;

/// A `width`×`height` PNG.
fn png(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::RgbImage::from_pixel(width, height, image::Rgb([90, 120, 200]))
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .expect("png");
    bytes
}

async fn put_file(
    farm: &mut stylefarm_proto::pb::farm_client::FarmClient<stylefarm_proto::connect::AuthChannel>,
    path: &str,
    data: Vec<u8>,
) -> Result<String, tonic::Status> {
    let chunk = pb::UploadChunk {
        file_name: path.into(),
        file_path: path.into(),
        data,
    };
    Ok(farm
        .upload_input(tokio_stream::iter(vec![chunk]))
        .await?
        .into_inner()
        .input_key)
}

type Schedules = pb::schedules_client::SchedulesClient<stylefarm_proto::connect::AuthChannel>;

/// The schedule's newest fires, newest first.
async fn fires_of(schedules: &Schedules, name: &str) -> Vec<pb::ScheduleFire> {
    schedules
        .clone()
        .get_schedule(pb::GetScheduleRequest {
            name: name.into(),
            fires: 10,
        })
        .await
        .expect("schedule")
        .into_inner()
        .fires
}

/// `ms` as a UTC date, `2026-12-01`.
fn utc_date(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string()
}

#[tokio::test]
async fn a_series_takes_the_newest_photos_of_its_day_and_publishes_each_run() {
    let farm = TestFarm::start().await;
    let token = farm.token("ana@studio", pb::Role::Client).await;
    let (mut studio, _, _) = clients(farm.addr, Some(&token)).await;
    let mut studio_schedules = schedules_client(farm.addr, &token).await;

    // A daily gallery at 06:00 UTC over the newest two photos of its day.
    let style = farm.upload("style.jpg", b"style pixels").await.input_key;
    let template = pb::JobSpec {
        name: "{schedule} {date}".into(),
        kind: "gallery".into(),
        content_key: String::new(),
        ..spec("", &style)
    };
    let created = studio_schedules
        .create_schedule(pb::CreateScheduleRequest {
            schedule: Some(pb::Schedule {
                name: "dailies".into(),
                cron: "0 6 * * *".into(),
                template: Some(template.clone()),
                inputs: Some(pb::SeriesInputs {
                    prefix: "photos/{date}/".into(),
                    newest: 2,
                }),
                ..Default::default()
            }),
        })
        .await
        .expect("schedule with series inputs created")
        .into_inner();
    assert_eq!(created.inputs.as_ref().unwrap().prefix, "photos/{date}/");
    let first = created.next_fire_unix_ms[0];
    let date = utc_date;

    // Three photos of the first fire's day, one of another day.
    let day = date(first);
    for (name, width) in [("a", 8), ("b", 6), ("c", 4)] {
        let key = put_file(
            &mut studio,
            &format!("photos/{day}/{name}.png"),
            png(width, 3),
        )
        .await
        .expect("file stored");
        assert_eq!(key, format!("files/ana@studio/photos/{day}/{name}.png"));
    }
    put_file(&mut studio, "photos/1999-01-01/old.png", png(5, 5))
        .await
        .expect("file stored");
    let listed = studio
        .list_files(pb::ListFilesRequest {
            prefix: format!("photos/{day}/"),
        })
        .await
        .expect("files listed")
        .into_inner()
        .files;
    assert_eq!(listed.len(), 3, "only that day's folder: {listed:?}");
    assert!(
        listed
            .windows(2)
            .all(|w| w[0].modified_unix_ms >= w[1].modified_unix_ms),
        "newest first: {listed:?}"
    );
    // What the fire must take: the two newest (ties by path), in path order.
    let mut newest: Vec<String> = listed[..2]
        .iter()
        .map(|f| {
            f.path
                .rsplit('/')
                .next()
                .unwrap()
                .trim_end_matches(".png")
                .to_owned()
        })
        .collect();
    newest.sort();

    farm.coordinator
        .fire_schedules_at(first + 500)
        .await
        .expect("tick");
    let fires = fires_of(&studio_schedules, "dailies").await;
    assert_eq!(fires[0].outcome, "submitted", "{fires:?}");
    let job_id = fires[0].job_id.clone();
    let job = farm.job(&job_id).await;
    let spec = job.spec.clone().unwrap();
    let names: Vec<&str> = spec.contents.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, newest, "the newest two photos of the day");
    for c in &spec.contents {
        assert!(
            c.input_key.starts_with("inputs/"),
            "stored as an input: {c:?}"
        );
    }

    // Not published before the job has succeeded; then one run.
    farm.coordinator
        .fire_schedules_at(first + 900)
        .await
        .expect("tick");
    let runs = |mut s: pb::schedules_client::SchedulesClient<_>| async move {
        s.list_series(pb::ListSeriesRequest {
            name: "dailies".into(),
            since_unix_ms: 0,
        })
        .await
        .map(|r| r.into_inner())
    };
    assert!(
        runs(studio_schedules.clone())
            .await
            .unwrap()
            .runs
            .is_empty()
    );
    let worker = farm.register("w").await;
    while let Some(task) = farm.lease(&worker, 0).await {
        farm.finish(&worker, &task).await;
    }
    assert_eq!(farm.job(&job_id).await.state(), pb::JobState::Succeeded);
    farm.coordinator
        .fire_schedules_at(first + 1500)
        .await
        .expect("tick");
    let listed = runs(studio_schedules.clone()).await.unwrap();
    assert_eq!(listed.runs.len(), 1);
    let run = &listed.runs[0];
    assert_eq!(run.folder, format!("{day}T06-00-00"));
    assert_eq!(run.job_id, job_id);
    assert!(!run.keys.is_empty());
    for (key, size) in run.keys.iter().zip(&run.sizes) {
        assert!(
            key.starts_with(&format!("series/dailies/{day}T06-00-00/")),
            "{key}"
        );
        let (_, bytes) = farm.download(key).await.expect("run file");
        assert_eq!(bytes.len() as u64, *size);
    }
    studio
        .download_output(pb::DownloadRequest {
            key: listed.index_key.clone(),
        })
        .await
        .expect("the index is readable by the series' owner");
    let (_, index) = farm.download(&listed.index_key).await.expect("index");
    let index = String::from_utf8(index).unwrap();
    assert!(
        index.contains(&format!("href=\"{day}T06-00-00/")),
        "{index}"
    );

    // The next day has no photos: the fire fails, saying where it looked.
    farm.coordinator
        .fire_schedules_at(first + DAY + 500)
        .await
        .expect("tick");
    let fires = fires_of(&studio_schedules, "dailies").await;
    assert_eq!(fires[0].outcome, "failed");
    assert!(
        fires[0].error.contains(&format!(
            "no pictures under files/ana@studio/photos/{}/",
            date(first + DAY)
        )),
        "{}",
        fires[0].error
    );

    // Another client sees neither the files nor the series.
    let other = farm.token("other", pb::Role::Client).await;
    let (mut other_farm, _, _) = clients(farm.addr, Some(&other)).await;
    let mut other_schedules = schedules_client(farm.addr, &other).await;
    let refused = other_farm
        .download_output(pb::DownloadRequest {
            key: format!("files/ana@studio/photos/{day}/a.png"),
        })
        .await;
    assert_status(
        refused.map(drop),
        Code::InvalidArgument,
        "not among your files",
    );
    assert_status(
        runs(other_schedules.clone()).await.map(drop),
        Code::NotFound,
        "dailies",
    );
    let refused = other_schedules
        .list_series(pb::ListSeriesRequest {
            name: "dailies".into(),
            since_unix_ms: 0,
        })
        .await;
    assert_status(refused.map(drop), Code::NotFound, "dailies");
}

#[tokio::test]
async fn series_inputs_and_files_refuse_what_cannot_work() {
    let farm = TestFarm::start().await;
    let mut admin_farm = farm.farm.clone();
    let style = farm.upload("style.jpg", b"style pixels").await.input_key;
    let create = |kind: &str, content: &str, prefix: &str, newest: u32| pb::CreateScheduleRequest {
        schedule: Some(pb::Schedule {
            name: "s".into(),
            cron: "0 6 * * *".into(),
            template: Some(pb::JobSpec {
                kind: kind.into(),
                ..spec(content, &style)
            }),
            inputs: Some(pb::SeriesInputs {
                prefix: prefix.into(),
                newest,
            }),
            overlap: pb::Overlap::Allow.into(),
            ..Default::default()
        }),
    };
    let mut s = farm.schedules.clone();
    for (request, needle) in [
        (
            create("single", "", "photos/../x/", 0),
            "not a relative path",
        ),
        (create("single", "", "photos/{week}/", 0), "holds '{'"),
        (create("single", "", "p/", 3), "single job"),
        (create("grid", "", "p/", 0), "grid"),
        (create("single", &style, "p/", 0), "names its own content"),
    ] {
        assert_status(
            s.create_schedule(request).await.map(drop),
            Code::InvalidArgument,
            needle,
        );
    }
    let first = s
        .create_schedule(create("single", "", "p/{date}/", 0))
        .await
        .expect("a single job over the newest photo")
        .into_inner()
        .next_fire_unix_ms[0];
    let day = utc_date;
    put_file(
        &mut admin_farm,
        &format!("p/{}/x.png", day(first)),
        png(10, 7),
    )
    .await
    .expect("stored");
    put_file(
        &mut admin_farm,
        &format!("p/{}/bad.png", day(first + DAY)),
        b"no png".to_vec(),
    )
    .await
    .expect("stored: pictures are read at fire time");
    farm.coordinator
        .fire_schedules_at(first + 500)
        .await
        .expect("tick");
    farm.coordinator
        .fire_schedules_at(first + DAY + 500)
        .await
        .expect("tick");
    let fires = fires_of(&s, "s").await;
    assert_eq!(fires[1].outcome, "submitted", "{fires:?}");
    let job = farm.job(&fires[1].job_id).await.spec.unwrap();
    assert_eq!(
        (
            job.content_name.as_str(),
            job.content_width,
            job.content_height
        ),
        ("x", 10, 7),
        "the photo's name and size, read from its header"
    );
    assert_eq!(fires[0].outcome, "failed");
    assert!(
        fires[0].error.contains("bad.png: not a picture"),
        "{}",
        fires[0].error
    );

    for (path, needle) in [
        ("../x.png", "not a relative file path"),
        ("photos/", "not a relative file path"),
        ("notes.txt", "extension"),
        ("a b.png", "not allowed"),
    ] {
        assert_status(
            put_file(&mut admin_farm, path, png(2, 2)).await,
            Code::InvalidArgument,
            needle,
        );
    }
}
