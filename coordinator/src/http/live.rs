//! The dashboard's moving parts: a job's events as server-sent events, the
//! pictures it shows (outputs and previews, read through the caller's
//! rights, and the pages stored with them: a gallery's, a series' index),
//! and the buttons (cancel or retry a job; pause, resume or run a schedule).

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use futures::Stream;
use serde_json::json;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use super::session::{Refused, caller, cross_site, error_page};
use crate::domain::JobEvent;
use crate::server::Coordinator;
use crate::tokens::Role;

/// An idle event stream sends a comment this often, so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `GET /jobs/{id}/events`: the job's events as they happen (its state
/// first), one JSON object per `data:` line, until it ends.
pub(crate) async fn events(
    State(coordinator): State<Coordinator>,
    headers: HeaderMap,
    Path(job_id): Path<String>,
) -> Response {
    let who = match caller(&coordinator, &headers, Role::Client, "the job's events").await {
        Ok(who) => who,
        Err(Refused::Login(why)) => return (StatusCode::UNAUTHORIZED, why).into_response(),
        Err(Refused::Forbidden(e)) => return error_page(&e),
    };
    let receiver = match coordinator.watch_job(&job_id, &who).await {
        Ok(receiver) => receiver,
        Err(e) => return error_page(&e),
    };
    let stream: std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>> = Box::pin(
        ReceiverStream::new(receiver)
            .map_while(Result::ok)
            .map(|event| Ok(Event::default().data(event_json(&event).to_string()))),
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

fn event_json(e: &JobEvent) -> serde_json::Value {
    let task = e.task.as_ref().map(|t| {
        json!({
            "task_id": t.task_id,
            "kind": t.kind,
            "state": t.state.as_str(),
            "worker_id": t.worker_id,
            "attempt": t.attempt,
            "error": t.error,
            "progress": t.progress.as_ref().map(|p| json!({
                "iteration": p.iteration,
                "iterations": p.iterations,
                "content_loss": p.content_loss,
                "style_loss": p.style_loss,
                "total_loss": p.total_loss,
                "preview_key": p.preview_key,
            })),
        })
    });
    json!({
        "job_id": e.job_id,
        "state": e.state.as_str(),
        "tasks_done": e.tasks_done,
        "tasks_total": e.tasks_total,
        "message": e.message,
        "task": task,
    })
}

/// Bytes of the pieces an object is sent in by `GET /objects/{key}`.
const OBJECT_CHUNK_BYTES: usize = 1 << 20;

/// `GET /objects/{key}`: a job's output or preview (or an input), if the
/// caller may see its job, with the content type of its extension; sent
/// as it is read from storage.
pub(crate) async fn object(
    State(coordinator): State<Coordinator>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Response {
    let who = match caller(&coordinator, &headers, Role::Client, "a picture").await {
        Ok(who) => who,
        Err(Refused::Login(why)) => return (StatusCode::UNAUTHORIZED, why).into_response(),
        Err(Refused::Forbidden(e)) => return error_page(&e),
    };
    match coordinator.download(&key, &who).await {
        // Stored pages (galleries, series indexes) are shown, never run:
        // no script of theirs runs on the dashboard's origin.
        Ok(reader) => (
            [
                (header::CONTENT_TYPE, content_type(&key)),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "script-src 'none'; object-src 'none'",
                ),
            ],
            Body::from_stream(reader.into_chunks(OBJECT_CHUNK_BYTES)),
        )
            .into_response(),
        Err(e) => error_page(&e),
    }
}

fn content_type(key: &str) -> &'static str {
    let ext = key.rsplit('.').next().unwrap_or_default();
    match ext {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "mp4" => "video/mp4",
        "json" => "application/json",
        "html" => "text/html; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// `POST /jobs/{id}/{cancel|retry}`, then back to the job's page.
pub(crate) async fn job_action(
    State(coordinator): State<Coordinator>,
    headers: HeaderMap,
    Path((job_id, action)): Path<(String, String)>,
) -> Response {
    if let Some(refused) = cross_site(&headers) {
        return refused;
    }
    let call = match action.as_str() {
        "cancel" => "CancelJob",
        "retry" => "RetryJob",
        _ => return (StatusCode::NOT_FOUND, "no such action\n").into_response(),
    };
    let who = match caller(&coordinator, &headers, Role::Client, call).await {
        Ok(who) => who,
        Err(refused) => return refused.page(),
    };
    let done = if action == "cancel" {
        coordinator.cancel_job(&job_id, &who).await.map(drop)
    } else {
        coordinator.retry_job(&job_id, &who).await.map(drop)
    };
    match done {
        Ok(()) => Redirect::to(&format!("/jobs/{job_id}")).into_response(),
        Err(e) => error_page(&e),
    }
}

/// `GET /series/{name}`: the series' index page, as stored (its links are
/// relative to `/objects/series/{name}/`).
pub(crate) async fn series(
    State(coordinator): State<Coordinator>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let who = match caller(&coordinator, &headers, Role::Client, "a series page").await {
        Ok(who) => who,
        Err(refused) => return refused.page(),
    };
    if let Err(e) = coordinator.check_series_owner(&name, &who).await {
        return error_page(&e);
    }
    Redirect::to(&format!("/objects/series/{name}/index.html")).into_response()
}

/// `POST /schedules/{name}/{pause|resume|run-now}`, then back to the
/// schedules (or, after run-now, to the new job).
pub(crate) async fn schedule_action(
    State(coordinator): State<Coordinator>,
    headers: HeaderMap,
    Path((name, action)): Path<(String, String)>,
) -> Response {
    if let Some(refused) = cross_site(&headers) {
        return refused;
    }
    let who = match caller(&coordinator, &headers, Role::Client, "a schedule action").await {
        Ok(who) => who,
        Err(refused) => return refused.page(),
    };
    let done = match action.as_str() {
        "pause" | "resume" => coordinator
            .set_schedule_paused(&name, action == "pause", &who)
            .await
            .map(|_| "/schedules".to_owned()),
        "run-now" => coordinator.run_schedule_now(&name, &who).await.map(|fire| {
            if fire.job_id.is_empty() {
                "/schedules".to_owned()
            } else {
                format!("/jobs/{}", fire.job_id)
            }
        }),
        _ => return (StatusCode::NOT_FOUND, "no such action\n").into_response(),
    };
    match done {
        Ok(to) => Redirect::to(&to).into_response(),
        Err(e) => error_page(&e),
    }
}
