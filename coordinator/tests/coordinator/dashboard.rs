//! The dashboard in a real headless browser: Debian's chromium driven
//! through chromedriver (WebDriver, `fantoccini`), against a farm whose
//! worker this test plays over gRPC, so that it decides when progress
//! happens. `scripts/test` installs chromium and chromium-driver.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use stylefarm_proto::pb::{self, JobState};

use crate::common::{ADMIN, PATIENCE, TestFarm, state};

/// A chromedriver process and its headless chromium session.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

async fn browser() -> Browser {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect(
            "chromedriver runs: install Debian's chromium and chromium-driver (scripts/test does)",
        );
    let profile = tempfile::tempdir().expect("profile dir");
    // The flags of a closed network: no background connections to Google.
    let args = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
        &format!("--user-data-dir={}", profile.path().display()),
    ];
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".into(), "chrome".into());
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "binary": "/usr/bin/chromium", "args": args }),
    );
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + PATIENCE;
    // chromedriver takes a moment to listen: retry the session until then.
    let client = loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(capabilities.clone())
            .connect(&url)
            .await
        {
            Ok(client) => break client,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("no browser session: {e}"),
        }
    };
    Browser {
        client,
        driver,
        _profile: profile,
    }
}

async fn log_in(c: &Client, base: &str, token: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    c.find(Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys(token)
        .await
        .unwrap();
    c.find(Locator::Css("#login"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(c, "h1", "Jobs").await;
}

/// The text of the element `css`.
async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Waits until the text of `css` is `want` (the page updates itself).
async fn wait_for_text(c: &Client, css: &str, want: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = match c.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{css} shows {text:?}, not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn progress(iteration: u32) -> pb::Progress {
    pb::Progress {
        iteration,
        iterations: 10,
        content_loss: 1.5e3,
        style_loss: 2.5e4,
        total_loss: 2.65e4,
        ..Default::default()
    }
}

/// Where screenshots go: the test's temporary folder under the target.
fn screenshot_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

#[tokio::test]
async fn a_running_job_updates_live_and_cancels_from_its_page() {
    let farm = TestFarm::start().await;
    let job_id = farm.submit(farm.valid_spec().await).await;
    let worker = farm.register("gpu-7").await;
    let task = farm.lease(&worker, 1000).await.expect("task");
    let b = browser().await;
    let c = &b.client;
    let base = format!("http://{}", farm.http);

    // Without a token every page leads to the login.
    c.goto(&format!("{base}/jobs")).await.unwrap();
    assert!(c.current_url().await.unwrap().path().ends_with("/login"));
    log_in(c, &base, ADMIN).await;
    wait_for_text(c, "#jobs tr:nth-child(2) td:nth-child(4)", "running").await;
    let listed = text(c, "#jobs").await;
    assert!(listed.contains(&job_id[..8]), "{listed}");

    // The job page follows heartbeats without a reload.
    c.goto(&format!("{base}/jobs/{job_id}")).await.unwrap();
    c.execute("window.notReloaded = true; return 0;", vec![])
        .await
        .unwrap();
    let row = format!("#task-{} .iteration", task.task_id);
    farm.heartbeat(&worker, &task, Some(progress(3)))
        .await
        .unwrap();
    wait_for_text(c, &row, "3/10").await;
    farm.heartbeat(&worker, &task, Some(progress(7)))
        .await
        .unwrap();
    wait_for_text(c, &row, "7/10").await;
    let same_page = c
        .execute("return window.notReloaded === true;", vec![])
        .await
        .unwrap();
    assert_eq!(
        same_page,
        serde_json::Value::Bool(true),
        "the page was reloaded"
    );
    let worker_cell = text(c, &format!("#task-{} .worker", task.task_id)).await;
    assert_eq!(worker_cell, worker);
    let shot = c.screenshot().await.unwrap();
    std::fs::write(screenshot_path("dashboard-job-running.png"), &shot).unwrap();
    assert!(shot.starts_with(b"\x89PNG"));

    // Cancel: the job is cancelled, the page says so, the worker hears it.
    c.find(Locator::Css("#cancel"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(c, "#job-state", "cancelled").await;
    assert_eq!(state(&farm.job(&job_id).await), JobState::Cancelled);
    assert!(farm.heartbeat(&worker, &task, None).await.unwrap().cancel);
    std::fs::write(
        screenshot_path("dashboard-job-cancelled.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();

    // Retry: the reloaded page of the cancelled job offers it; the job is
    // queued again and its task leased anew.
    c.wait()
        .for_element(Locator::Css("#retry"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(c, "#job-state", "queued").await;
    assert_eq!(state(&farm.job(&job_id).await), JobState::Queued);
    let again = farm.lease(&worker, 1000).await.expect("the retried task");
    assert_eq!(again.task_id, task.task_id);

    // The workers page lists the worker.
    c.goto(&format!("{base}/workers")).await.unwrap();
    let workers = text(c, "#workers").await;
    assert!(
        workers.contains("gpu-7") && workers.contains("alive"),
        "{workers}"
    );

    // A grid job's page: its cells with their blends (none rendered yet).
    let mut grid = farm.valid_spec().await;
    let second = farm.upload("b.jpg", b"other style").await.input_key;
    grid.kind = "grid".into();
    grid.steps = 3;
    grid.styles.push(pb::StyleInput {
        input_key: second,
        weight: 1.0,
        name: "waves".into(),
        ..Default::default()
    });
    let grid_id = farm.submit(grid).await;
    c.goto(&format!("{base}/jobs/{grid_id}/grid"))
        .await
        .unwrap();
    let cells = text(c, "#grid").await;
    assert!(
        cells.contains("waves 0.50") && cells.matches("(not rendered)").count() == 3,
        "{cells}"
    );
    c.clone().close().await.unwrap();
}

#[tokio::test]
async fn schedules_run_from_their_page_and_other_clients_see_nothing() {
    let farm = TestFarm::start().await;
    farm.schedules
        .clone()
        .create_schedule(pb::CreateScheduleRequest {
            schedule: Some(pb::Schedule {
                name: "weekly".into(),
                cron: "0 9 * * 1".into(),
                time_zone: "America/New_York".into(),
                template: Some(farm.valid_spec().await),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    let alice = farm.token("alice", pb::Role::Client).await;
    let b = browser().await;
    let c = &b.client;
    let base = format!("http://{}", farm.http);
    log_in(c, &base, ADMIN).await;
    c.goto(&format!("{base}/schedules")).await.unwrap();
    let next = text(c, "#schedule-weekly .next").await;
    assert!(
        next.ends_with("09:00:00 EST") || next.ends_with("09:00:00 EDT"),
        "{next}"
    );
    c.find(Locator::Css("#schedule-weekly .run-now"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Run now leads to the new job's page.
    wait_for_text(c, "#job-state", "queued").await;
    let path = c.current_url().await.unwrap().path().to_owned();
    let job_id = path.strip_prefix("/jobs/").expect(&path).to_owned();
    assert_eq!(state(&farm.job(&job_id).await), JobState::Queued);

    // Another client: no schedules listed, and the admin's job is not found.
    log_in(c, &base, &alice).await;
    c.goto(&format!("{base}/schedules")).await.unwrap();
    let table = text(c, "#schedules").await;
    assert!(!table.contains("weekly"), "{table}");
    c.goto(&format!("{base}/jobs/{job_id}")).await.unwrap();
    let body = text(c, "body").await;
    assert!(body.contains(&format!("no job {job_id}")), "{body}");
    c.clone().close().await.unwrap();
}
