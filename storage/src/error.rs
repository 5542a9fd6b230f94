//! The crate's one error type.
//!
//! Every message names what went wrong and what the user can do about it, because these errors end
//! up printed by the CLI with no further context.

use thiserror::Error;

/// Everything that can go wrong talking to object storage or running the embedded server.
#[non_exhaustive]
#[derive(Error, Debug)]
pub enum StorageError {
    /// The object does not exist (GET of a missing key).
    #[error(
        "object '{key}' not found in bucket '{bucket}' at {endpoint}: upload it first or check the key"
    )]
    NotFound {
        key: String,
        bucket: String,
        endpoint: String,
    },

    /// A key (or key prefix) failed validation; nothing was sent to the server.
    #[error(
        "invalid object key '{key}': {reason}; keys may use only A-Z a-z 0-9 . _ / -, \
         without a leading '/', '..' or empty segments, and be 1 to 512 bytes long"
    )]
    BadKey { key: String, reason: String },

    /// A file name whose extension is not a supported input image format.
    #[error(
        "unsupported input image '{file_name}': {reason}; use one of png, jpg, jpeg, webp, bmp, tif, tiff, gif"
    )]
    BadExtension { file_name: String, reason: String },

    /// A `StorageConfig` field is unusable (empty bucket, bad endpoint URL, missing credentials...).
    #[error("invalid storage setting {field}: {reason}")]
    BadConfig { field: String, reason: String },

    /// Local file-system trouble (the embedded server's root or credentials file). The inner error's
    /// message already names the path and the remedy.
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),

    /// The endpoint could not be reached at all (refused, DNS, timeout, TLS).
    #[error(
        "could not reach the S3 endpoint {endpoint} during {op}: {message}; \
         check that the server is running and that the endpoint URL is right"
    )]
    Unreachable {
        endpoint: String,
        op: String,
        message: String,
    },

    /// The server rejected the credentials or the signature.
    #[error(
        "the S3 server at {endpoint} refused {op} with access key '{access_key}': {message}; \
         check the access key and secret key (the embedded server keeps its own in \
         <root>/.stylefarm-s3-credentials)"
    )]
    Auth {
        endpoint: String,
        op: String,
        access_key: String,
        message: String,
    },

    /// The server refused a presigned URL: it expired, or was made for
    /// another key or access.
    #[error(
        "the S3 server refused the presigned URL for {op} of '{key}': {message}; \
         a URL lives as long as the task's lease: a worker whose lease ended must not write"
    )]
    Denied {
        op: String,
        key: String,
        message: String,
    },

    /// Any other failure reported by, or while talking to, the S3 server.
    #[error("S3 {op} of '{key}' failed: {message}")]
    S3 {
        op: String,
        key: String,
        message: String,
    },

    /// The embedded S3 server could not start or serve.
    #[error("embedded S3 server: {0}")]
    Server(String),
}

/// Wraps an I/O error with the path and action so the message is useful on its own, while keeping
/// the original `ErrorKind` for callers that branch on it.
pub(crate) fn io_context(
    err: std::io::Error,
    action: &str,
    path: &std::path::Path,
    hint: &str,
) -> StorageError {
    StorageError::Io(std::io::Error::new(
        err.kind(),
        format!("could not {action} {}: {err}; {hint}", path.display()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_message_names_key_bucket_endpoint_and_remedy() {
        let err = StorageError::NotFound {
            key: "inputs/ab.png".into(),
            bucket: "x".into(),
            endpoint: "http://127.0.0.1:9000".into(),
        };
        let msg = err.to_string();
        assert_eq!(
            msg,
            "object 'inputs/ab.png' not found in bucket 'x' at http://127.0.0.1:9000: \
             upload it first or check the key"
        );
    }

    #[test]
    fn io_context_keeps_kind_and_names_path() {
        let base = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        let err = io_context(
            base,
            "create",
            std::path::Path::new("/srv/s3"),
            "check permissions",
        );
        let StorageError::Io(inner) = &err else {
            panic!("expected Io, got {err:?}");
        };
        assert_eq!(inner.kind(), std::io::ErrorKind::PermissionDenied);
        let msg = err.to_string();
        assert!(msg.contains("/srv/s3"), "{msg}");
        assert!(msg.contains("check permissions"), "{msg}");
    }
}
