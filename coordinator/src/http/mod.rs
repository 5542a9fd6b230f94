//! The coordinator's HTTP side, beside gRPC on a listener of its own
//! (`stylefarm coordinator --http-listen`): health endpoints for load
//! balancers and Kubernetes probes, Prometheus metrics, and the web
//! dashboard. HTTPS with the coordinator's own certificate when it has one
//! (axum over axum-server's rustls acceptor).
//!
//! - `GET /healthz`: 200 `ok` while the process serves (liveness). No token:
//!   it tells nothing but that the process answers.
//! - `GET /readyz`: 200 `ready` when the database and storage answer and the
//!   coordinator is not draining; 503 naming which is not (readiness). No
//!   token, for the same reason.
//! - `GET /metrics`: OpenMetrics text ([`crate::metrics`]); a bearer token of
//!   role `metrics` or `admin`, as gRPC calls take theirs (401 without one,
//!   403 with another role, 429 past the rate limit).
//! - The dashboard (`/jobs`, `/jobs/{id}`, `/jobs/{id}/grid`, `/workers`,
//!   `/schedules`, `/series/{name}`, with `/login`): server-rendered pages
//!   ([`pages`], [`grid`]), live job pages over server-sent events and the
//!   buttons ([`live`]), the same tokens and roles as gRPC ([`session`]).

mod grid;
mod live;
mod pages;
mod session;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Redirect;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::error::{CoordinatorError, Result};
use crate::server::Coordinator;
use crate::tokens::Role;

/// Longest a readiness check waits for the database or storage.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest running requests may take once the server is told to stop.
const DRAIN: Duration = Duration::from_secs(5);

/// The OpenMetrics text format's content type, which Prometheus asks for.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A running HTTP server; stops when [`HttpServer::shutdown`] is called or
/// when dropped.
#[derive(Debug)]
pub struct HttpServer {
    addr: SocketAddr,
    handle: Handle<SocketAddr>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl HttpServer {
    /// The address it listens on (the port chosen when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets running requests finish (at most 5 s) and
    /// returns once the server has stopped.
    pub async fn shutdown(mut self) {
        self.handle.graceful_shutdown(Some(DRAIN));
        if let Some(task) = self.task.take() {
            match task.await {
                Ok(Ok(())) => info!("HTTP server stopped"),
                Ok(Err(e)) => warn!(error = %e, "HTTP server ended with an error"),
                Err(e) => warn!(error = %e, "HTTP server task failed"),
            }
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if self.task.is_some() {
            self.handle.shutdown();
        }
    }
}

impl Coordinator {
    /// Serves `/healthz`, `/readyz` and `/metrics` on `listener` (over TLS
    /// with the configuration's certificate, if any) until the returned
    /// server is shut down. `/readyz` turns 503 as soon as the gRPC side
    /// begins to drain.
    ///
    /// Errors: the listener cannot be used, or the certificate or key is not
    /// usable PEM ([`CoordinatorError::Tls`]).
    pub async fn serve_http(&self, listener: std::net::TcpListener) -> Result<HttpServer> {
        let io = CoordinatorError::Http;
        listener.set_nonblocking(true).map_err(io)?;
        let addr = listener.local_addr().map_err(io)?;
        let app = Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .route("/", get(|| async { Redirect::to("/jobs") }))
            .route("/login", get(session::login_page).post(session::login))
            .route("/logout", post(session::logout))
            .route("/jobs", get(pages::jobs))
            .route("/jobs/{id}", get(pages::job))
            .route("/jobs/{id}/events", get(live::events))
            .route("/jobs/{id}/grid", get(grid::grid))
            .route("/jobs/{id}/{action}", post(live::job_action))
            .route("/series/{name}", get(live::series))
            .route("/objects/{*key}", get(live::object))
            .route("/workers", get(pages::workers))
            .route("/schedules", get(pages::schedules))
            .route("/schedules/{name}/{action}", post(live::schedule_action))
            .with_state(self.clone());
        let handle = Handle::new();
        let service = app.into_make_service();
        let task = match &self.config().tls {
            Some(tls) => {
                // The process's one crypto provider (aws-lc-rs), as for gRPC.
                let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
                let config = RustlsConfig::from_pem(tls.cert_pem.clone(), tls.key_pem.clone())
                    .await
                    .map_err(|e| {
                        CoordinatorError::Tls(format!("HTTPS with --tls-cert/--tls-key: {e}"))
                    })?;
                let server = axum_server::from_tcp_rustls(listener, config)
                    .map_err(io)?
                    .handle(handle.clone());
                tokio::spawn(server.serve(service))
            }
            None => {
                let server = axum_server::from_tcp(listener)
                    .map_err(io)?
                    .handle(handle.clone());
                tokio::spawn(server.serve(service))
            }
        };
        let scheme = if self.config().tls.is_some() {
            "https"
        } else {
            "http"
        };
        info!(%addr, scheme, "HTTP serving: dashboard, /healthz, /readyz, /metrics");
        Ok(HttpServer {
            addr,
            handle,
            task: Some(task),
        })
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(coordinator): State<Coordinator>) -> Response {
    match coordinator.readiness().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        )
            .into_response(),
    }
}

impl Coordinator {
    /// Ok when the coordinator can take work: not draining, its database
    /// and its storage answering within 2 s each. Otherwise which one not.
    async fn readiness(&self) -> std::result::Result<(), String> {
        if *self.events().shutdown_signal().borrow() {
            return Err("draining: the coordinator is shutting down".to_owned());
        }
        let database = async {
            let mut conn = self.db().read().await?;
            crate::db::query("SELECT 1").execute(conn.conn()).await?;
            Ok::<_, CoordinatorError>(())
        };
        match tokio::time::timeout(READY_TIMEOUT, database).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("database: {e}")),
            Err(_) => return Err(format!("database: no answer within {READY_TIMEOUT:?}")),
        }
        // Any answer about a key (here: that it is absent) shows that the
        // server is up and takes the coordinator's credentials.
        match tokio::time::timeout(READY_TIMEOUT, self.store().head("health/readyz")).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("storage: {e}")),
            Err(_) => Err(format!("storage: no answer within {READY_TIMEOUT:?}")),
        }
    }
}

async fn metrics(State(coordinator): State<Coordinator>, headers: HeaderMap) -> Response {
    const CALL: &str = "GET /metrics";
    let token = match headers.get(header::AUTHORIZATION) {
        None => {
            return refusal(&CoordinatorError::Unauthenticated {
                problem: format!(
                    "{CALL} needs a token of role metrics (or admin) in `Authorization: Bearer <token>`; \
                     an admin makes one with `stylefarm token create NAME --role metrics`"
                ),
            });
        }
        Some(value) => match value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or(v.strip_prefix("bearer ")))
        {
            Some(token) => token.trim(),
            None => {
                return refusal(&CoordinatorError::Unauthenticated {
                    problem: format!("{CALL}: the Authorization header must be `Bearer <token>`"),
                });
            }
        },
    };
    if let Err(e) = coordinator
        .authorize(Some(token), Role::Metrics, CALL)
        .await
    {
        warn!(call = CALL, error = %e, "request refused");
        return refusal(&e);
    }
    match coordinator.render_metrics().await {
        Ok(text) => ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response(),
        Err(e) => {
            warn!(error = %e, "could not read the metrics");
            (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response()
        }
    }
}

/// The HTTP answer to a refused token, with the message gRPC would give.
fn refusal(e: &CoordinatorError) -> Response {
    let message = format!("{e}\n");
    match e {
        CoordinatorError::Unauthenticated { .. } => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            message,
        )
            .into_response(),
        CoordinatorError::PermissionDenied { .. } => {
            (StatusCode::FORBIDDEN, message).into_response()
        }
        CoordinatorError::LimitExceeded { .. } => {
            (StatusCode::TOO_MANY_REQUESTS, message).into_response()
        }
        _ => (StatusCode::SERVICE_UNAVAILABLE, message).into_response(),
    }
}
