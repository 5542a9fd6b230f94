//! Who a dashboard request comes from: the same bearer tokens and roles as
//! gRPC. A browser logs in once by pasting its token, which the coordinator
//! checks and keeps in an `HttpOnly`, `SameSite=Strict` cookie (`Secure`
//! under TLS); scripts may send `Authorization: Bearer` instead. Every page
//! and action is authorized again on each request, so revocation and expiry
//! take effect at once.

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::pages::layout;
use crate::error::CoordinatorError;
use crate::server::Coordinator;
use crate::tokens::{Caller, Role};

/// The cookie that holds a logged-in browser's token.
pub(crate) const COOKIE: &str = "stylefarm_token";

/// The token a request carries: `Authorization: Bearer`, else the cookie.
fn token(headers: &HeaderMap) -> Option<String> {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return value
            .strip_prefix("Bearer ")
            .or(value.strip_prefix("bearer "))
            .map(|t| t.trim().to_owned());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// Why a request was not let in, as the dashboard answers it.
#[derive(Debug)]
pub(crate) enum Refused {
    /// No token, or one the farm does not take: log in (pages) or 401.
    Login(String),
    /// A token whose role may not do this, or a limit.
    Forbidden(CoordinatorError),
}

impl Refused {
    /// A page's answer: to the login page, or 403/429 with the reason.
    pub(crate) fn page(self) -> Response {
        match self {
            Refused::Login(_) => Redirect::to("/login").into_response(),
            Refused::Forbidden(e) => error_page(&e),
        }
    }
}

/// The caller of a dashboard request, if its token may act as `need`.
pub(crate) async fn caller(
    coordinator: &Coordinator,
    headers: &HeaderMap,
    need: Role,
    what: &str,
) -> Result<Caller, Refused> {
    let Some(token) = token(headers) else {
        return Err(Refused::Login(format!("{what}: log in with a token first")));
    };
    coordinator
        .authorize(Some(&token), need, what)
        .await
        .map_err(|e| match e {
            CoordinatorError::Unauthenticated { problem } => Refused::Login(problem),
            other => Refused::Forbidden(other),
        })
}

/// A page that says what went wrong, with the status the error deserves.
pub(crate) fn error_page(e: &CoordinatorError) -> Response {
    let status = match e {
        CoordinatorError::PermissionDenied { .. } => StatusCode::FORBIDDEN,
        CoordinatorError::LimitExceeded { .. } => StatusCode::TOO_MANY_REQUESTS,
        CoordinatorError::JobNotFound { .. } | CoordinatorError::ScheduleNotFound { .. } => {
            StatusCode::NOT_FOUND
        }
        CoordinatorError::InvalidArgument { .. } => StatusCode::BAD_REQUEST,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    let body = layout(
        "error",
        html! {
            h1 { "Not possible" }
            p.error { (e.to_string()) }
            p { a href="/jobs" { "Back to the jobs" } }
        },
    );
    (status, body).into_response()
}

pub(crate) async fn login_page() -> Response {
    layout(
        "log in",
        html! {
            h1 { "Log in" }
            p { "Paste a token (" code { "stylefarm token create --role client" } "); the browser keeps it in a cookie for this farm only." }
            form method="post" action="/login" {
                input type="password" name="token" id="token" autocomplete="off" size="70" placeholder="sf_…";
                " "
                button type="submit" id="login" { "Log in" }
            }
        },
    )
    .into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    token: String,
}

/// Checks the pasted token (any role but `metrics`, which has no pages) and
/// keeps it in the cookie.
pub(crate) async fn login(
    State(coordinator): State<Coordinator>,
    Form(form): Form<LoginForm>,
) -> Response {
    let token = form.token.trim();
    let checked = coordinator
        .authorize(Some(token), Role::Client, "log in")
        .await;
    if let Err(e) = checked {
        let body = layout(
            "log in",
            html! {
                h1 { "Log in" }
                p.error { (e.to_string()) }
                p { a href="/login" { "Try again" } }
            },
        );
        return (StatusCode::UNAUTHORIZED, body).into_response();
    }
    let secure = if coordinator.config().tls.is_some() {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/{secure}");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/jobs")).into_response()
}

pub(crate) async fn logout() -> Response {
    let cookie = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response()
}

/// The refusal of a state-changing request that a browser sent from
/// another site (the cookie is `SameSite=Strict` already; this also stops a
/// same-site page on another port of the host); `None` to go on.
pub(crate) fn cross_site(headers: &HeaderMap) -> Option<Response> {
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        None | Some("same-origin" | "none") => None,
        Some(other) => Some(
            (
                StatusCode::FORBIDDEN,
                format!("refused: a request from another site ({other})\n"),
            )
                .into_response(),
        ),
    }
}
