//! A coordinator's outages, with real processes: killed with SIGKILL and
//! restarted, stopped with SIGSTOP and resumed, each on SQLite and on
//! PostgreSQL; and two coordinators over one PostgreSQL database finishing
//! twenty jobs while one of them is killed. The PostgreSQL tests need a
//! server in `STYLEFARM_TEST_POSTGRES` (`scripts/with-postgres` starts one);
//! without it they say so and pass.

mod common;

use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use stylefarm_proto::pb;

/// Which database a test's coordinators keep the farm in.
#[derive(Clone, Copy)]
enum Db {
    /// The default: `DATA_DIR/stylefarm.db`.
    Sqlite,
    /// A new database on the test server.
    Postgres,
}

/// The `--db` flags for `db` (a new database for PostgreSQL); `None` when
/// PostgreSQL is asked for and no server is given.
fn db_flags(db: Db) -> Option<Vec<String>> {
    match db {
        Db::Sqlite => Some(Vec::new()),
        Db::Postgres => {
            let Some(server) = std::env::var("STYLEFARM_TEST_POSTGRES")
                .ok()
                .filter(|v| !v.is_empty())
            else {
                eprintln!(
                    "STYLEFARM_TEST_POSTGRES is not set: skipped (scripts/with-postgres runs it)"
                );
                return None;
            };
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let name = format!(
                "outages_{}_{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            let created = Command::new("psql")
                .arg(format!("{server}/postgres"))
                .args(["-v", "ON_ERROR_STOP=1", "-q", "-c"])
                .arg(format!("CREATE DATABASE {name}"))
                .status()
                .expect("run psql (Debian's postgresql-client)");
            assert!(created.success(), "CREATE DATABASE {name}");
            Some(vec!["--db".into(), format!("{server}/{name}")])
        }
    }
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Sends `signal` (e.g. "STOP", "CONT") to a process.
fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal}");
}

/// Submits a one-task job of `iterations`; returns its id.
fn submit(
    url: &str,
    content: &std::path::Path,
    style: &std::path::Path,
    iterations: u32,
) -> String {
    let iterations = iterations.to_string();
    let args = [
        "submit",
        content.to_str().unwrap(),
        "--style",
        style.to_str().unwrap(),
        "--size",
        "64",
        "--iterations",
        &iterations,
        "--coordinator",
        url,
    ];
    ok(&stylefarm(&args)).trim().to_string()
}

fn killed_mid_job_restarts_and_finishes_it(db: Db) {
    let Some(db) = db_flags(db) else { return };
    let dir = tempfile::tempdir().unwrap();
    let imgs = small_images(dir.path());
    let data = dir.path().join("farm");
    let (port, s3_port) = (free_port(), free_port());
    let coord = coordinator_with(&data, port, s3_port, 5.0, &strs(&db));
    let url = coord.url.clone();
    let mut procs = Procs(vec![coord.child, worker(&url, "w0")]);
    let id = submit(&url, &imgs[1], &imgs[3], 60);
    wait_for(Duration::from_secs(60), "the task to be leased", || {
        let job = get_job(&url, &id);
        job.tasks
            .iter()
            .any(|t| t.state() == pb::TaskState::Leased)
            .then_some(())
    });
    kill(&mut procs.0[0]);
    procs.0[0] = coordinator_with(&data, port, s3_port, 5.0, &strs(&db)).child;
    ok(&stylefarm(&["watch", &id, "--coordinator", &url]));
    assert_eq!(get_job(&url, &id).state(), pb::JobState::Succeeded);
}

#[test]
fn a_coordinator_killed_mid_job_restarts_and_finishes_it() {
    killed_mid_job_restarts_and_finishes_it(Db::Sqlite);
}

#[test]
fn a_coordinator_on_postgres_killed_mid_job_restarts_and_finishes_it() {
    killed_mid_job_restarts_and_finishes_it(Db::Postgres);
}

fn stopped_mid_task_keeps_the_lease_and_the_work(db: Db) {
    let Some(db) = db_flags(db) else { return };
    let dir = tempfile::tempdir().unwrap();
    let imgs = small_images(dir.path());
    let coord = coordinator_with(&dir.path().join("farm"), 0, 0, 1.0, &strs(&db));
    let url = coord.url.clone();
    let procs = Procs(vec![coord.child, worker(&url, "w0")]);
    let id = submit(&url, &imgs[0], &imgs[1], 120);
    wait_for(Duration::from_secs(60), "the task to make progress", || {
        get_job(&url, &id)
            .tasks
            .iter()
            .any(|t| t.progress.as_ref().is_some_and(|p| p.iteration >= 2))
            .then_some(())
    });
    // Away for three lease timeouts: the stall is what is tested, so it is
    // a sleep; nothing waits on it.
    signal(&procs.0[0], "STOP");
    std::thread::sleep(Duration::from_secs(3));
    signal(&procs.0[0], "CONT");
    ok(&stylefarm(&["watch", &id, "--coordinator", &url]));
    let job = get_job(&url, &id);
    assert_eq!(job.state(), pb::JobState::Succeeded);
    assert_eq!(
        job.tasks[0].attempt, 1,
        "the lease ran out while the coordinator itself was away: {job:?}"
    );
}

#[test]
fn a_coordinator_stopped_mid_task_keeps_the_lease_and_the_work() {
    stopped_mid_task_keeps_the_lease_and_the_work(Db::Sqlite);
}

#[test]
fn a_coordinator_on_postgres_stopped_mid_task_keeps_the_lease_and_the_work() {
    stopped_mid_task_keeps_the_lease_and_the_work(Db::Postgres);
}

// Long on purpose: one scenario (two coordinators, two workers, twenty jobs,
// one coordinator killed halfway), whose steps depend on each other.
#[test]
fn two_coordinators_finish_twenty_jobs_while_one_is_killed() {
    let Some(db) = db_flags(Db::Postgres) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let imgs = small_images(dir.path());
    // Storage both coordinators share, outside either process.
    let s3_root = dir.path().join("s3");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let s3 = runtime
        .block_on(stylefarm_storage::EmbeddedS3::start(
            &s3_root,
            "127.0.0.1:0".parse().unwrap(),
        ))
        .unwrap();
    let keys = s3.storage_config("farm", "");
    let mut flags = db.clone();
    flags.extend(["--storage".into(), "s3://farm".into()]);
    flags.extend(["--s3-endpoint".into(), keys.endpoint.clone()]);
    let env = [
        ("AWS_ACCESS_KEY_ID", keys.access_key.as_str()),
        ("AWS_SECRET_ACCESS_KEY", keys.secret_key.as_str()),
    ];
    let start =
        |name: &str| coordinator_env(&dir.path().join(name), 0, 0, 2.0, &strs(&flags), &env);
    let (a, b) = (start("a"), start("b"));
    let (url_a, url_b) = (a.url.clone(), b.url.clone());
    let mut procs = Procs(vec![
        a.child,
        b.child,
        worker(&url_a, "w-a"),
        worker(&url_b, "w-b"),
    ]);
    let worker_a = wait_for(Duration::from_secs(60), "both workers to register", || {
        let workers = list_workers(&url_b);
        let alive = workers.iter().filter(|w| w.alive).count();
        let on_a = workers.iter().find(|w| w.name == "w-a")?;
        (alive == 2).then(|| on_a.worker_id.clone())
    });

    // Half the jobs through each coordinator.
    let ids: Vec<String> = (0..20)
        .map(|i| {
            let url = if i % 2 == 0 { &url_a } else { &url_b };
            submit(url, &imgs[i % 2], &imgs[2 + i % 2], 20)
        })
        .collect();
    let jobs = |url: &str| -> Vec<pb::Job> { ids.iter().map(|id| get_job(url, id)).collect() };
    let succeeded = |jobs: &[pb::Job]| {
        jobs.iter()
            .filter(|j| j.state() == pb::JobState::Succeeded)
            .count()
    };
    // Killed halfway, while its worker holds a task: stopped first, so that
    // the task cannot finish between the look and the kill.
    let held_by_a = |jobs: &[pb::Job]| {
        jobs.iter()
            .flat_map(|j| &j.tasks)
            .find(|t| t.state() == pb::TaskState::Leased && t.worker_id == worker_a)
            .map(|t| t.task_id.clone())
    };
    let held = loop {
        wait_for(
            Duration::from_secs(300),
            "ten jobs done and a task leased through coordinator A",
            || {
                let now = jobs(&url_b);
                (succeeded(&now) >= 10 && held_by_a(&now).is_some()).then_some(())
            },
        );
        signal(&procs.0[0], "STOP");
        if let Some(task) = held_by_a(&jobs(&url_b)) {
            break task;
        }
        signal(&procs.0[0], "CONT");
    };
    kill(&mut procs.0[0]);

    // B and its worker finish everything, A's worker's task included once
    // its lease runs out.
    let done = wait_for(
        Duration::from_secs(300),
        "all twenty jobs to succeed",
        || {
            let now = jobs(&url_b);
            assert!(
                !now.iter()
                    .any(|j| matches!(j.state(), pb::JobState::Failed | pb::JobState::Cancelled)),
                "{now:?}"
            );
            (succeeded(&now) == 20).then_some(now)
        },
    );
    let again = done
        .iter()
        .flat_map(|j| &j.tasks)
        .find(|t| t.task_id == held)
        .expect("the task held through A");
    assert!(again.attempt >= 2, "{again:?}");
    // Every output exactly once: one result per job, in the job's folder.
    let stored = files_ending(&s3_root, "result.png");
    assert_eq!(stored.len(), 20, "{stored:?}");
    for job in &done {
        assert_eq!(results(job).len(), 1, "{:?}", job.output_keys);
        let in_folder = stored
            .iter()
            .filter(|p| p.to_string_lossy().contains(&job.job_id))
            .count();
        assert_eq!(in_folder, 1, "{}: {stored:?}", job.job_id);
    }
    drop(procs);
    runtime.block_on(s3.shutdown());
}
