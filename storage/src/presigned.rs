//! Presigned URLs (S3 signature v4 in the query string): how workers reach
//! storage without holding its keys. The coordinator, which alone holds the
//! credentials, signs one URL per object and access for the life of a
//! lease ([`Store::presign`]); a worker moves the bytes with
//! [`PresignedClient`], a plain HTTP client. The S3 server checks the
//! signature and the expiry itself (`X-Amz-Date` + `X-Amz-Expires`), so a
//! URL cannot be widened to another key or used after it expires.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::presigning::PresigningConfig;
use bytes::Bytes;
use tracing::debug;

use crate::error::StorageError;
use crate::keys::{check_key, full_key};
use crate::store::Store;

/// Longest a URL may live: S3's limit for signature v4 is seven days; a
/// lease is far shorter.
pub const MAX_PRESIGNED_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// What a presigned URL allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read the object (`GET`).
    Get,
    /// Write the object (`PUT`), replacing any.
    Put,
    /// Ask for the object's size (`HEAD`).
    Head,
}

impl Access {
    fn as_str(self) -> &'static str {
        match self {
            Access::Get => "get",
            Access::Put => "put",
            Access::Head => "head",
        }
    }
}

impl Store {
    /// A URL that allows `access` to `key` from `start` for `lifetime`
    /// (at most [`MAX_PRESIGNED_LIFETIME`]), signed with the store's
    /// credentials.
    pub async fn presign_at(
        &self,
        access: Access,
        key: &str,
        start: SystemTime,
        lifetime: Duration,
    ) -> Result<String, StorageError> {
        check_key(key)?;
        let full = full_key(self.prefix(), key);
        let config = PresigningConfig::builder()
            .start_time(start)
            .expires_in(lifetime.clamp(Duration::from_secs(1), MAX_PRESIGNED_LIFETIME))
            .build()
            .map_err(|e| StorageError::S3 {
                op: format!("presign {}", access.as_str()),
                key: full.clone(),
                message: e.to_string(),
            })?;
        let bucket = &self.config().bucket;
        let client = self.presigner();
        let signed = match access {
            Access::Get => client
                .get_object()
                .bucket(bucket)
                .key(&full)
                .presigned(config)
                .await
                .map_err(|e| e.to_string()),
            Access::Put => client
                .put_object()
                .bucket(bucket)
                .key(&full)
                .presigned(config)
                .await
                .map_err(|e| e.to_string()),
            Access::Head => client
                .head_object()
                .bucket(bucket)
                .key(&full)
                .presigned(config)
                .await
                .map_err(|e| e.to_string()),
        };
        let signed = signed.map_err(|message| StorageError::S3 {
            op: format!("presign {}", access.as_str()),
            key: full.clone(),
            message,
        })?;
        debug!(key = %full, access = access.as_str(), ?lifetime, "presigned");
        Ok(signed.uri().to_owned())
    }

    /// [`Store::presign_at`] from now.
    pub async fn presign(
        &self,
        access: Access,
        key: &str,
        lifetime: Duration,
    ) -> Result<String, StorageError> {
        self.presign_at(access, key, SystemTime::now(), lifetime)
            .await
    }
}

/// Moves bytes over presigned URLs: no credentials, no bucket, only URLs.
/// Cheap to clone (one connection pool).
#[derive(Debug, Clone)]
pub struct PresignedClient {
    http: reqwest::Client,
}

impl PresignedClient {
    /// A client with the system's TLS roots for https storage.
    pub fn new() -> Result<PresignedClient, StorageError> {
        PresignedClient::with_ca(None)
    }

    /// A client that trusts the PEM certificates `ca_pem` as well as the system's roots: the
    /// private CA of a farm whose embedded S3 server serves TLS (the workers' `--ca`).
    ///
    /// Errors: `BadConfig` (field `TLS`) when `ca_pem` holds no certificate.
    pub fn with_ca(ca_pem: Option<&[u8]>) -> Result<PresignedClient, StorageError> {
        // reqwest is built without a provider of its own: use aws-lc-rs,
        // which aws-sdk-s3 brings, as the process's one. (Fails harmlessly
        // when it is installed already.)
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let mut builder = reqwest::Client::builder();
        if let Some(pem) = ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .ok()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| StorageError::BadConfig {
                    field: "TLS".into(),
                    reason: "the CA file holds no PEM certificate; give the farm's CA (--ca)"
                        .into(),
                })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(|e| StorageError::BadConfig {
            field: "TLS".into(),
            reason: format!("cannot set up the HTTP client for presigned URLs: {e}"),
        })?;
        Ok(PresignedClient { http })
    }

    /// The object behind a GET URL. `key` names it in errors.
    pub async fn get(&self, url: &str, key: &str) -> Result<Bytes, StorageError> {
        let response = self.send(self.http.get(url), "get", key).await?;
        response
            .bytes()
            .await
            .map_err(|e| transfer_error("get", key, &e))
    }

    /// Stores `data` through a PUT URL.
    pub async fn put(&self, url: &str, key: &str, data: Bytes) -> Result<(), StorageError> {
        self.send(self.http.put(url).body(data), "put", key)
            .await
            .map(drop)
    }

    /// `Some(size in bytes)` if the object exists, `None` if not, through a
    /// HEAD URL.
    pub async fn head(&self, url: &str, key: &str) -> Result<Option<u64>, StorageError> {
        match self.send(self.http.head(url), "head", key).await {
            Ok(response) => Ok(Some(
                response
                    .headers()
                    .get(reqwest::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            )),
            Err(StorageError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        op: &str,
        key: &str,
    ) -> Result<reqwest::Response, StorageError> {
        let response = request
            .send()
            .await
            .map_err(|e| transfer_error(op, key, &e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let host = response.url().host_str().unwrap_or("?").to_owned();
        let body = response.text().await.unwrap_or_default();
        Err(match status.as_u16() {
            404 => StorageError::NotFound {
                key: key.to_owned(),
                bucket: "(presigned)".into(),
                endpoint: host,
            },
            403 => StorageError::Denied {
                op: op.to_owned(),
                key: key.to_owned(),
                message: s3_message(&body),
            },
            _ => StorageError::S3 {
                op: op.to_owned(),
                key: key.to_owned(),
                message: format!("HTTP {status}: {}", s3_message(&body)),
            },
        })
    }
}

fn transfer_error(op: &str, key: &str, e: &reqwest::Error) -> StorageError {
    StorageError::Unreachable {
        endpoint: e.url().and_then(|u| u.host_str()).unwrap_or("?").to_owned(),
        op: format!("{op} of {key}"),
        message: e.to_string(),
    }
}

/// The `<Message>` of an S3 error document, else the body itself.
fn s3_message(body: &str) -> String {
    let message = body
        .split_once("<Message>")
        .and_then(|(_, rest)| rest.split_once("</Message>"))
        .map_or(body, |(m, _)| m);
    message.chars().take(300).collect()
}
