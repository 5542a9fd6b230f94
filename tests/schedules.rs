//! `stylefarm schedule …` end to end, as a user meets it: a job file with
//! `seed = "fire-time"` becomes a schedule on a coordinator process, is
//! listed with its next fires on its own wall clock, runs now on a worker,
//! and bad patterns, zones and job files are refused before anything runs.

mod common;

use std::path::Path;

use common::*;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A tiny single job file over the test pictures, seeded by the fire time.
fn job_file(dir: &Path) -> String {
    let images = small_images(dir);
    let path = dir.join("series.toml");
    std::fs::write(
        &path,
        format!(
            "name = \"{{schedule}} {{date}}\"\ncontent = {:?}\nstyles = [{:?}]\n\n[render]\nsize = 32\niterations = 2\nseed = \"fire-time\"\n",
            images[0], images[1]
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn a_series_is_added_listed_run_now_and_refused_when_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let coord = coordinator(&dir.path().join("farm"), 0, 0, 10.0);
    let url = coord.url.clone();
    let mut procs = Procs(vec![coord.child]);
    let job = job_file(dir.path());
    let schedule = |args: &[&str]| {
        let mut all = vec!["schedule"];
        all.extend(args);
        all.extend(["--coordinator", &url]);
        stylefarm(&all)
    };

    let added = ok(&schedule(&[
        "add",
        "mornings",
        "--cron",
        "0 6 * * 1-5",
        "--tz",
        "Asia/Tokyo",
        "--job",
        &job,
        "--overlap",
        "buffer-one",
        "--catch-up",
        "6h",
    ]));
    assert!(
        added.contains("schedule mornings created") && added.contains("JST"),
        "{added}"
    );
    let listed = ok(&schedule(&["list"]));
    let line = listed
        .lines()
        .find(|l| l.starts_with("mornings"))
        .expect(&listed);
    assert!(
        line.contains("buffer-one") && line.contains("06:00:00 JST"),
        "{line}"
    );

    // Run now: a job on the farm, rendered by a worker, seeded by its fire time.
    let job_id = ok(&schedule(&["run-now", "mornings"])).trim().to_owned();
    procs.0.push(worker(&url, "w"));
    ok(&stylefarm(&["watch", &job_id, "--coordinator", &url]));
    let done = get_job(&url, &job_id);
    assert_eq!(done.state(), stylefarm_proto::pb::JobState::Succeeded);
    let spec = done.spec.unwrap();
    assert!(spec.name.starts_with("mornings 20"), "{}", spec.name);
    let shown = ok(&schedule(&["show", "mornings"]));
    assert!(
        shown.contains("submitted") && shown.contains(&job_id),
        "{shown}"
    );
    assert!(
        shown.contains("the fire time") && shown.contains("(manual)"),
        "{shown}"
    );
    let fire_s = spec.settings.unwrap().seed;
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        now_s.abs_diff(fire_s) < 600,
        "seed {fire_s} is the fire time (now {now_s})"
    );

    // Mistakes, each named.
    let refused = |args: &[&str], needle: &str| {
        let out = schedule(args);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    };
    refused(
        &["add", "x", "--cron", "0 6 * *", "--job", &job],
        "5 (minute hour day month weekday",
    );
    refused(
        &[
            "add",
            "x",
            "--cron",
            "0 6 * * *",
            "--tz",
            "Berlin",
            "--job",
            &job,
        ],
        "IANA",
    );
    refused(
        &["add", "mornings", "--cron", "0 7 * * *", "--job", &job],
        "exists already",
    );
    refused(
        &[
            "add",
            "x",
            "--cron",
            "0 6 * * *",
            "--job",
            "/nonexistent.toml",
        ],
        "cannot read job file",
    );
    refused(
        &["backfill", "mornings", "2026-01-01", "yesterday"],
        "neither an RFC 3339 time",
    );
    refused(&["show", "nope"], "no schedule nope");

    ok(&schedule(&["pause", "mornings"]));
    assert!(ok(&schedule(&["list"])).contains("paused"));
    ok(&schedule(&["delete", "mornings"]));
    assert!(!ok(&schedule(&["list"])).contains("mornings"));
}

/// A gallery series over the newest of the client's uploaded photos: the
/// photos go up with `files put`, the schedule chooses them at its fire,
/// a worker renders, and `series get` downloads the published run and the
/// series' index page.
#[test]
fn a_series_renders_uploaded_photos_and_is_downloaded() {
    let dir = tempfile::tempdir().unwrap();
    let coord = coordinator(&dir.path().join("farm"), 0, 0, 10.0);
    let url = coord.url.clone();
    let mut procs = Procs(vec![coord.child]);
    let images = small_images(dir.path());
    let job = dir.path().join("weekly.toml");
    std::fs::write(
        &job,
        format!(
            "kind = \"gallery\"\nstyles = [{:?}]\n\n[render]\nsize = 32\niterations = 2\n\n[series]\ninputs = \"photos/{{schedule}}/\"\nnewest = 2\n",
            images[1]
        ),
    )
    .unwrap();
    let job = job.to_str().unwrap();
    let cli = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--coordinator", &url]);
        stylefarm(&all)
    };

    let put = ok(&cli(&[
        "files",
        "put",
        "photos/weekly/",
        images[0].to_str().unwrap(),
        images[2].to_str().unwrap(),
    ]));
    assert!(
        put.contains("files/admin/photos/weekly/tubingen.png"),
        "{put}"
    );
    let listed = ok(&cli(&["files", "list", "photos/"]));
    assert_eq!(listed.lines().count(), 2, "{listed}");

    let refused = cli(&["submit", "--job", job]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("[series] in a job file is for schedules"),
        "{}",
        stderr(&refused)
    );

    ok(&cli(&[
        "schedule",
        "add",
        "weekly",
        "--cron",
        "0 6 * * 1",
        "--job",
        job,
    ]));
    let shown = ok(&cli(&["schedule", "show", "weekly"]));
    assert!(
        shown.contains("inputs     files/admin/photos/{schedule}/ (the newest 2)"),
        "{shown}"
    );
    let job_id = ok(&cli(&["schedule", "run-now", "weekly"]))
        .trim()
        .to_owned();
    procs.0.push(worker(&url, "w"));
    ok(&stylefarm(&["watch", &job_id, "--coordinator", &url]));
    let spec = get_job(&url, &job_id).spec.unwrap();
    assert!(
        spec.name.starts_with("weekly-20"),
        "a job file without a name gives {{schedule}}-{{date}}-{{time}}: {}",
        spec.name
    );
    let names: Vec<&str> = spec.contents.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["the_scream", "tubingen"],
        "both photos, in path order"
    );

    // The coordinator's loop publishes the finished run within a tick or two.
    let out = dir.path().join("weekly-runs");
    let got = wait_for(
        std::time::Duration::from_secs(30),
        "the run published",
        || {
            let got = cli(&["series", "get", "weekly", "-o", out.to_str().unwrap()]);
            let text = String::from_utf8_lossy(&got.stdout).into_owned();
            text.contains("1 run(s)").then_some(text)
        },
    );
    let index = std::fs::read_to_string(out.join("index.html")).expect(&got);
    let folder = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .expect("a run folder");
    let folder_name = folder.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(
        index.contains(&format!("{folder_name}/gallery/index.html")),
        "{index}"
    );
    assert!(folder.join("sheet.png").is_file(), "{got}");
    assert!(folder.join("gallery/index.html").is_file(), "{got}");
    let again = ok(&cli(&[
        "series",
        "get",
        "weekly",
        "-o",
        out.to_str().unwrap(),
    ]));
    assert!(again.contains("0 file(s) downloaded"), "{again}");
}
