//! Turning aws-sdk-s3 errors into `StorageError`s a user can act on.
//!
//! The SDK's errors are precise but read like stack traces; here they are sorted into the few cases
//! that need different advice: unreachable endpoint, refused credentials, everything else.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use crate::config::StorageConfig;
use crate::error::StorageError;

/// Error codes meaning "your credentials or signature were not accepted".
const AUTH_CODES: &[&str] = &[
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "NotSignedUp",
    "InvalidToken",
    "ExpiredToken",
    "RequestTimeTooSkewed",
];

/// HTTP status of the response, when there was one.
pub(crate) fn status<E>(err: &SdkError<E>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// Sorts an SDK error for operation `op` on `key` (which is the full key, store prefix included).
pub(crate) fn classify<E>(
    cfg: &StorageConfig,
    op: &str,
    key: &str,
    err: SdkError<E>,
) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            return StorageError::Unreachable {
                endpoint: cfg.endpoint.clone(),
                op: op.to_owned(),
                message: error_chain(&err),
            };
        }
        SdkError::ServiceError(_) | SdkError::ResponseError(_) => {}
        // Construction failures and future variants: nothing was learnt from the server.
        _ => {
            return StorageError::S3 {
                op: op.to_owned(),
                key: key.to_owned(),
                message: format!(
                    "{}; check the storage settings (endpoint {}, bucket '{}')",
                    error_chain(&err),
                    cfg.endpoint,
                    cfg.bucket
                ),
            };
        }
    }

    let status = status(&err);
    let code = err.code().map(str::to_owned);
    // HEAD responses carry no body, so a refused HEAD is known only by its status.
    let is_auth = status == Some(403) || code.as_deref().is_some_and(|c| AUTH_CODES.contains(&c));
    let detail = describe(code.as_deref(), err.message(), status);
    if is_auth {
        return StorageError::Auth {
            endpoint: cfg.endpoint.clone(),
            op: op.to_owned(),
            access_key: cfg.access_key.clone(),
            message: detail,
        };
    }
    let advice = match code.as_deref() {
        Some("NoSuchBucket") => format!(
            "bucket '{}' does not exist at {}; Store::connect creates it, so reconnect or check the bucket name",
            cfg.bucket, cfg.endpoint
        ),
        _ if status.is_some_and(|s| s >= 500) => format!(
            "the server at {} failed; check its logs and retry",
            cfg.endpoint
        ),
        _ => format!(
            "check the key and the storage settings (endpoint {}, bucket '{}')",
            cfg.endpoint, cfg.bucket
        ),
    };
    StorageError::S3 {
        op: op.to_owned(),
        key: key.to_owned(),
        message: format!("{detail}; {advice}"),
    }
}

/// The error and its causes, "outer: inner: innermost", without the SDK's Debug dump.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        // Wrappers often repeat their cause's text; say each thing once.
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// "SignatureDoesNotMatch: The request signature ... (HTTP 403)", with whatever parts are known.
fn describe(code: Option<&str>, message: Option<&str>, status: Option<u16>) -> String {
    let mut out = String::new();
    match (code, message) {
        (Some(c), Some(m)) => out.push_str(&format!("{c}: {m}")),
        (Some(c), None) => out.push_str(c),
        (None, Some(m)) => out.push_str(m),
        (None, None) if status == Some(403) => out.push_str("access denied"),
        (None, None) => out.push_str("the server gave no error details"),
    }
    if let Some(s) = status {
        out.push_str(&format!(" (HTTP {s})"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_chain_lists_causes_once() {
        #[derive(Debug)]
        struct Wrap(std::io::Error);
        impl std::fmt::Display for Wrap {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("dispatch failure")
            }
        }
        impl std::error::Error for Wrap {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let wrapped = Wrap(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused",
        ));
        assert_eq!(error_chain(&wrapped), "dispatch failure: refused");
    }

    #[test]
    fn describe_uses_what_is_known() {
        assert_eq!(
            describe(Some("NoSuchKey"), Some("gone"), Some(404)),
            "NoSuchKey: gone (HTTP 404)"
        );
        assert_eq!(describe(None, None, Some(403)), "access denied (HTTP 403)");
        assert_eq!(
            describe(None, None, Some(500)),
            "the server gave no error details (HTTP 500)"
        );
        assert_eq!(describe(Some("X"), None, None), "X");
    }
}
