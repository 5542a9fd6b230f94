//! The gRPC layer, kept thin: each handler parses its request into domain
//! arguments, calls the domain, and converts the answer back; every domain
//! error becomes a status through the one `From` below.

mod admin;
mod convert;
mod farm;
mod schedules;
mod work;

pub(crate) use admin::AdminService;
pub(crate) use farm::FarmService;
pub(crate) use schedules::SchedulesService;
pub(crate) use work::WorkService;

use stylefarm_storage::StorageError;
use tonic::{Request, Status};
use tracing::{error, warn};

use crate::error::CoordinatorError;
use crate::server::Coordinator;
use crate::tokens::{Caller, Role};

/// The caller of `request` (named `call` in errors), if its bearer token may
/// make a call that needs `need`. Every handler starts here.
pub(crate) async fn authorize<T>(
    coordinator: &Coordinator,
    request: &Request<T>,
    need: Role,
    call: &str,
) -> Result<Caller, Status> {
    let token = match request.metadata().get("authorization") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer ").or(v.strip_prefix("bearer ")))
                .map(str::trim)
                .ok_or_else(|| CoordinatorError::Unauthenticated {
                    problem: format!("{call}: the authorization metadata must be `Bearer <token>`"),
                })?,
        ),
    };
    coordinator
        .authorize(token, need, call)
        .await
        .inspect_err(|e| warn!(call, error = %e, "call refused"))
        .map_err(Status::from)
}

impl From<CoordinatorError> for Status {
    fn from(e: CoordinatorError) -> Status {
        use CoordinatorError as E;
        let message = e.to_string();
        match &e {
            E::InvalidSpec(_)
            | E::InvalidArgument { .. }
            | E::MissingInput { .. }
            | E::OutputOutsidePrefix { .. }
            | E::OutputMissing { .. }
            | E::TooFewOutputs { .. } => Status::invalid_argument(message),
            E::JobNotFound { .. }
            | E::ScheduleNotFound { .. }
            | E::TaskNotFound { .. }
            | E::UnknownWorker { .. }
            | E::ObjectNotFound { .. } => Status::not_found(message),
            E::StaleAttempt { .. } | E::TaskCancelled { .. } | E::NotRetryable { .. } => {
                Status::failed_precondition(message)
            }
            E::UploadTooLarge { .. } | E::LimitExceeded { .. } => {
                Status::resource_exhausted(message)
            }
            E::ScheduleExists { .. } => Status::already_exists(message),
            E::Unauthenticated { .. } => Status::unauthenticated(message),
            E::PermissionDenied { .. } => Status::permission_denied(message),
            E::Storage(StorageError::BadKey { .. } | StorageError::BadExtension { .. }) => {
                Status::invalid_argument(message)
            }
            E::Storage(_) => {
                error!(error = %message, "storage failed");
                Status::unavailable(message)
            }
            E::Database(_)
            | E::DatabaseTls(_)
            | E::Migrate(_)
            | E::Transport(_)
            | E::Http(_)
            | E::Tls(_)
            | E::Corrupt(_) => {
                error!(error = %message, "internal error");
                Status::internal(message)
            }
        }
    }
}

/// A required string field of a request, or `invalid_argument` naming it.
pub(crate) fn required<'a>(
    field: &'static str,
    value: &'a str,
) -> Result<&'a str, CoordinatorError> {
    if value.is_empty() {
        Err(CoordinatorError::InvalidArgument {
            field,
            problem: "missing; it is required".into(),
        })
    } else {
        Ok(value)
    }
}
