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
