//! The gRPC layer, kept thin: each handler parses its request into domain
//! arguments, calls the domain, and converts the answer back; every domain
//! error becomes a status through the one `From` below.

mod convert;
mod farm;
mod work;

pub(crate) use farm::FarmService;
pub(crate) use work::WorkService;

use stylefarm_storage::StorageError;
use tonic::Status;
use tracing::error;

use crate::error::CoordinatorError;

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
            | E::TaskNotFound { .. }
            | E::UnknownWorker { .. }
            | E::ObjectNotFound { .. } => Status::not_found(message),
            E::StaleAttempt { .. } | E::TaskCancelled { .. } => {
                Status::failed_precondition(message)
            }
            E::UploadTooLarge { .. } => Status::resource_exhausted(message),
            E::Storage(StorageError::BadKey { .. } | StorageError::BadExtension { .. }) => {
                Status::invalid_argument(message)
            }
            E::Storage(_) => {
                error!(error = %message, "storage failed");
                Status::unavailable(message)
            }
            E::Database(_) | E::Migrate(_) | E::Transport(_) | E::Corrupt(_) => {
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
