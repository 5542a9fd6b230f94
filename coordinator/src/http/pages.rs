//! The dashboard's pages, rendered on the server with `maud` (HTML escaped
//! by construction): jobs, one job with its tasks (kept live by
//! `/jobs/{id}/events`, see [`super::live`]), workers, schedules. One small
//! stylesheet and one small script, inline: nothing to build, nothing
//! fetched from elsewhere.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use prost::Message;
use serde::Deserialize;
use stylefarm_proto::pb;

use super::session::{caller, error_page};
use crate::db::now_ms;
use crate::domain::{JobState, JobView, TaskView};
use crate::server::Coordinator;
use crate::tokens::Role;

/// Jobs listed on the jobs page.
const JOBS_SHOWN: u32 = 200;

const STYLE: &str = "
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 2em 2em; color: #222; }
nav { padding: .8em 0; border-bottom: 1px solid #ddd; margin-bottom: 1em; }
nav a { margin-right: 1.2em; } nav form { display: inline; float: right; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .25em .6em; border-bottom: 1px solid #eee; vertical-align: top; }
.bar { width: 10em; height: .8em; background: #eee; display: inline-block; }
.bar > span { display: block; height: 100%; background: #4a7; }
.state-failed, .error { color: #b22; } .state-succeeded { color: #272; } .state-running { color: #27b; }
.thumbs img { max-width: 160px; max-height: 160px; margin: .3em; border: 1px solid #ddd; }
.filters a { margin-right: .8em; } button { cursor: pointer; }
";

/// The page frame: title, navigation, stylesheet.
pub(crate) fn layout(title: &str, body: Markup) -> Html<String> {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "stylefarm · " (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                nav {
                    a href="/jobs" { "Jobs" }
                    a href="/workers" { "Workers" }
                    a href="/schedules" { "Schedules" }
                    form method="post" action="/logout" { button type="submit" { "Log out" } }
                }
                (body)
            }
        }
    };
    Html(page.into_string())
}

/// `(name, kind, priority)` of a job from its stored spec.
fn job_labels(job: &JobView) -> (String, String, i32) {
    match pb::JobSpec::decode(job.spec.as_slice()) {
        Ok(spec) => (spec.name, spec.kind, spec.priority),
        Err(_) => (String::new(), String::new(), 0),
    }
}

fn progress_bar(done: u32, total: u32) -> Markup {
    let percent = if total == 0 {
        0
    } else {
        u64::from(done) * 100 / u64::from(total)
    };
    html! {
        span.bar title=(format!("{done} of {total} tasks")) { span style=(format!("width: {percent}%")) {} }
        " " span.count { (done) "/" (total) }
    }
}

/// "3 min", "2 h", "4 d": how long ago `ms` was.
fn age(ms: i64) -> String {
    let s = (now_ms() - ms).max(0) / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct JobsQuery {
    state: Option<String>,
}

pub(crate) async fn jobs(
    State(coordinator): State<Coordinator>,
    headers: HeaderMap,
    Query(query): Query<JobsQuery>,
) -> Response {
    let who = match caller(&coordinator, &headers, Role::Client, "the jobs page").await {
        Ok(who) => who,
        Err(refused) => return refused.page(),
    };
    let jobs = match coordinator.list_jobs(JOBS_SHOWN, &who).await {
        Ok(jobs) => jobs,
        Err(e) => return error_page(&e),
    };
    let filter = query.state.filter(|s| !s.is_empty());
    let states = ["queued", "running", "succeeded", "failed", "cancelled"];
    layout(
        "jobs",
        html! {
            h1 { "Jobs" }
            p.filters {
                "Show: " a href="/jobs" { "all" }
                @for s in states { a href=(format!("/jobs?state={s}")) { (s) } }
            }
            table #jobs {
                tr { th { "job" } th { "name" } th { "kind" } th { "state" } th { "progress" } th { "age" } th { "priority" } th { "owner" } }
                @for job in jobs.iter().filter(|j| filter.as_deref().is_none_or(|f| f == j.state.as_str())) {
                    @let (name, kind, priority) = job_labels(job);
                    tr {
                        td { a href=(format!("/jobs/{}", job.job_id)) { (job.job_id.get(..8).unwrap_or(&job.job_id)) } }
                        td { (name) } td { (kind) }
                        td class=(format!("state-{}", job.state.as_str())) { (job.state.as_str()) }
                        td { (progress_bar(job.tasks_done, job.tasks_total)) }
                        td { (age(job.created_ms)) } td { (priority) } td { (job.owner) }
                    }
                }
            }
        },
    )
    .into_response()
}

fn task_row(task: &TaskView) -> Markup {
    let p = task.progress.as_ref();
    html! {
        tr id=(format!("task-{}", task.task_id)) {
            td { (task.task_id) } td { (task.kind) }
            td.state { (task.state.as_str()) }
            td.worker { (task.worker_id) } td.attempt { (task.attempt) }
            td.iteration { @if let Some(p) = p { (p.iteration) "/" (p.iterations) } }
            td.losses { @if let Some(p) = p { (format!("content {:.3e} · style {:.3e} · total {:.3e}", p.content_loss, p.style_loss, p.total_loss)) } }
            td.error { (task.error) }
        }
    }
}

pub(crate) async fn job(
    State(coordinator): State<Coordinator>,
    headers: HeaderMap,
    Path(job_id): Path<String>,
) -> Response {
    let who = match caller(&coordinator, &headers, Role::Client, "the job page").await {
        Ok(who) => who,
        Err(refused) => return refused.page(),
    };
    let job = match coordinator.get_job(&job_id, &who).await {
        Ok(job) => job,
        Err(e) => return error_page(&e),
    };
    let (name, kind, priority) = job_labels(&job);
    let previews: Vec<&str> = job
        .tasks
        .iter()
        .filter_map(|t| t.progress.as_ref())
        .map(|p| p.preview_key.as_str())
        .filter(|k| !k.is_empty())
        .collect();
    let pictures: Vec<&String> = job
        .output_keys
        .iter()
        .filter(|k| {
            [".png", ".jpg", ".jpeg", ".gif", ".webp"]
                .iter()
                .any(|e| k.ends_with(e))
        })
        .collect();
    let unfinished = matches!(job.state, JobState::Queued | JobState::Running);
    let retryable = matches!(job.state, JobState::Failed | JobState::Cancelled);
    let gallery_page = job
        .output_keys
        .iter()
        .find(|k| k.ends_with("/gallery/index.html"));
    layout(
        &format!("job {}", job.job_id),
        html! {
            h1 { "Job " (name) }
            p {
                code { (job.job_id) } " · " (kind) " · priority " (priority) " · by " (job.owner)
                " · submitted " (age(job.created_ms)) " ago"
            }
            p {
                "State: " strong #job-state class=(format!("state-{}", job.state.as_str())) { (job.state.as_str()) }
                " " span #job-progress { (progress_bar(job.tasks_done, job.tasks_total)) }
                @if unfinished {
                    " "
                    form method="post" action=(format!("/jobs/{}/cancel", job.job_id)) style="display: inline" {
                        button #cancel type="submit" { "Cancel" }
                    }
                }
                @if retryable {
                    " "
                    form method="post" action=(format!("/jobs/{}/retry", job.job_id)) style="display: inline" {
                        button #retry type="submit" { "Retry" }
                    }
                }
            }
            @if !job.error.is_empty() { p.error { (job.error) } }
            p #last-event {}
            h2 { "Tasks" }
            table #tasks {
                tr { th { "task" } th { "kind" } th { "state" } th { "worker" } th { "attempt" } th { "iteration" } th { "losses" } th { "error" } }
                @for task in &job.tasks { (task_row(task)) }
            }
            @if !previews.is_empty() {
                h2 { "Previews" }
                div.thumbs #previews { @for key in previews { img src=(format!("/objects/{key}")) alt="preview"; } }
            }
            @if let Some(page) = gallery_page {
                p { a #gallery-page href=(format!("/objects/{page}")) { "Gallery page" } }
            }
            @if kind == "grid" && job.state == JobState::Succeeded {
                p { a #grid-page href=(format!("/jobs/{}/grid", job.job_id)) { "Grid page" } }
            }
            @if !pictures.is_empty() {
                h2 { "Outputs" }
                div.thumbs #outputs {
                    @for key in pictures { a href=(format!("/objects/{key}")) { img src=(format!("/objects/{key}")) alt=(key); } }
                }
            }
            @if unfinished { script { (PreEscaped(LIVE_SCRIPT.replace("JOB_ID", &job.job_id))) } }
        },
    )
    .into_response()
}

/// Keeps a job page live over server-sent events: the job's state and
/// progress bar, and each task's row as events about it arrive; reloads once
/// the job ends (to show its outputs).
const LIVE_SCRIPT: &str = r##"
const source = new EventSource("/jobs/JOB_ID/events");
source.onmessage = (message) => {
  const e = JSON.parse(message.data);
  document.getElementById("job-state").textContent = e.state;
  document.getElementById("job-state").className = "state-" + e.state;
  const percent = e.tasks_total ? Math.floor(100 * e.tasks_done / e.tasks_total) : 0;
  document.querySelector("#job-progress .bar > span").style.width = percent + "%";
  document.querySelector("#job-progress .count").textContent = e.tasks_done + "/" + e.tasks_total;
  document.getElementById("last-event").textContent = e.message;
  if (e.task) {
    const row = document.getElementById("task-" + e.task.task_id);
    if (row) {
      row.querySelector(".state").textContent = e.task.state;
      row.querySelector(".worker").textContent = e.task.worker_id;
      row.querySelector(".attempt").textContent = e.task.attempt;
      if (e.task.progress) {
        const p = e.task.progress;
        row.querySelector(".iteration").textContent = p.iteration + "/" + p.iterations;
        row.querySelector(".losses").textContent = "content " + p.content_loss.toExponential(3)
          + " · style " + p.style_loss.toExponential(3) + " · total " + p.total_loss.toExponential(3);
      }
      row.querySelector(".error").textContent = e.task.error;
    }
  }
  if (["succeeded", "failed", "cancelled"].includes(e.state)) {
    source.close();
    setTimeout(() => location.reload(), 300);
  }
};
"##;

pub(crate) async fn workers(
    State(coordinator): State<Coordinator>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = caller(&coordinator, &headers, Role::Client, "the workers page").await {
        return refused.page();
    }
    let workers = match coordinator.list_workers().await {
        Ok(workers) => workers,
        Err(e) => return error_page(&e),
    };
    layout(
        "workers",
        html! {
            h1 { "Workers" }
            table #workers {
                tr { th { "name" } th { "device" } th { "memory" } th { "slots" } th { "tasks" } th { "last heartbeat" } th { "state" } th { "blocked from" } }
                @for w in &workers {
                    tr {
                        td { (w.spec.name) } td { (w.spec.device) }
                        td { (format!("{:.1} GiB", w.spec.memory_bytes as f64 / f64::from(1u32 << 30))) }
                        td { (w.spec.slots) }
                        td { @for t in &w.task_ids { code { (t) } " " } }
                        td { (age(w.last_seen_ms)) " ago" }
                        td { @if w.alive { "alive" } @else { "gone" } }
                        td.blocked {
                            @for j in &w.blocked_job_ids {
                                a href=(format!("/jobs/{j}")) title="it failed this job too often; it takes its tasks only when no other live worker can" { (j.get(..8).unwrap_or(j)) } " "
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}

pub(crate) async fn schedules(
    State(coordinator): State<Coordinator>,
    headers: HeaderMap,
) -> Response {
    let who = match caller(&coordinator, &headers, Role::Client, "the schedules page").await {
        Ok(who) => who,
        Err(refused) => return refused.page(),
    };
    let schedules = match coordinator.schedules(&who).await {
        Ok(s) => s,
        Err(e) => return error_page(&e),
    };
    layout(
        "schedules",
        html! {
            h1 { "Schedules" }
            table #schedules {
                tr { th { "name" } th { "cron" } th { "zone" } th { "overlap" } th { "inputs" } th { "next fire" } th { "" } }
                @for s in &schedules {
                    @let timing = crate::schedules::Timing::parse(&s.row.cron, &s.row.time_zone).ok();
                    tr id=(format!("schedule-{}", s.row.name)) {
                        td { a href=(format!("/series/{}", s.row.name)) title="the series' runs" { (s.row.name) } }
                        td { code { (s.row.cron) } } td { (s.time_zone) } td { (s.row.overlap) }
                        td { @if !s.row.inputs_prefix.is_empty() { code { "files/" (s.row.owner) "/" (s.row.inputs_prefix) } } }
                        td.next {
                            @if s.row.paused { "paused" }
                            @else if let (Some(t), Some(next)) = (&timing, s.next_fires_ms.first()) { (t.display(*next)) }
                        }
                        td {
                            @for (action, label) in [(if s.row.paused { "resume" } else { "pause" }, if s.row.paused { "Resume" } else { "Pause" }), ("run-now", "Run now")] {
                                form method="post" action=(format!("/schedules/{}/{action}", s.row.name)) style="display: inline" {
                                    button type="submit" class=(action) { (label) }
                                }
                                " "
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}
