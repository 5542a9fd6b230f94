//! `Store`: the object-store client every other crate uses, over any S3-compatible server.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    timeout::TimeoutConfig,
};
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use tracing::debug;

use crate::config::StorageConfig;
use crate::error::StorageError;
use crate::keys::{check_key, check_prefix, full_key};
use crate::sdk_error::{classify, status};
use crate::stream::{PART_BYTES, broken_download};

/// How long to wait for a TCP connection before calling the endpoint unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One object of a listing ([`Store::list_objects`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// The key, relative to the store prefix.
    pub key: String,
    /// Bytes.
    pub size: u64,
    /// When it was last written, unix milliseconds (0 if the server did not say).
    pub modified_ms: i64,
}

/// `key` as CopyObject's `x-amz-copy-source` wants it: URL-encoded, `/` kept. Keys pass
/// [`check_key`]; bytes outside `A-Za-z0-9-._~/` (`@`) are escaped.
fn encode_copy_source(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A connected bucket (and key prefix). Cheap to clone: clones share one HTTP connection pool.
#[derive(Clone)]
pub struct Store {
    client: Client,
    /// Signs presigned URLs for `cfg.public_endpoint` where it is set (signing makes no request,
    /// so this client never connects).
    presigner: Option<Client>,
    cfg: Arc<StorageConfig>,
    /// `cfg.prefix` trimmed of slashes; `""` for none.
    prefix: Arc<str>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Validates `cfg`, then makes sure the bucket exists (creating it if missing).
    ///
    /// Fails early with `Unreachable` or `Auth` when the server is down or refuses the credentials,
    /// so a misconfigured farm is caught at start-up rather than at the first upload.
    pub async fn connect(cfg: StorageConfig) -> Result<Store, StorageError> {
        let prefix = cfg.validate()?;
        let creds = Credentials::new(
            cfg.access_key.clone(),
            cfg.secret_key.clone(),
            None,
            None,
            "stylefarm-storage-config",
        );
        let sdk_cfg = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .credentials_provider(creds)
            .region(Region::new(cfg.region.trim().to_owned()))
            .endpoint_url(cfg.endpoint.trim().trim_end_matches('/'))
            // Path-style URLs work against any host name, IP address or port; virtual-hosted
            // style needs DNS for "<bucket>.<host>", which local and self-hosted servers lack.
            .force_path_style(true)
            // Many S3-compatible servers reject or mishandle the SDK's default trailing
            // checksums (aws-chunked uploads); only send them where the operation requires it.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .build(),
            )
            .build();
        let presigner = cfg.public_endpoint.as_ref().map(|url| {
            Client::from_conf(
                sdk_cfg
                    .to_builder()
                    .endpoint_url(url.trim().trim_end_matches('/'))
                    .build(),
            )
        });
        let store = Store {
            presigner,
            client: Client::from_conf(sdk_cfg),
            cfg: Arc::new(cfg),
            prefix: prefix.into(),
        };
        store.ensure_bucket().await?;
        debug!(endpoint = %store.cfg.endpoint, bucket = %store.cfg.bucket, prefix = %store.prefix, "storage connected");
        Ok(store)
    }

    /// The configuration this store was connected with.
    pub fn config(&self) -> &StorageConfig {
        &self.cfg
    }

    /// The client whose endpoint presigned URLs name: workers' (`public_endpoint`) where set.
    pub(crate) fn presigner(&self) -> &Client {
        self.presigner.as_ref().unwrap_or(&self.client)
    }

    /// The SDK client, for the calls of `stream`.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// The key prefix inside the bucket, trimmed of slashes.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Stores `data` under `key`, replacing any existing object.
    pub async fn put(&self, key: &str, data: Bytes) -> Result<(), StorageError> {
        check_key(key)?;
        let full = full_key(&self.prefix, key);
        debug!(key = %full, bytes = data.len(), "storage put");
        self.client
            .put_object()
            .bucket(&self.cfg.bucket)
            .key(&full)
            .body(ByteStream::from(data))
            .send()
            .await
            .map_err(|e| classify(&self.cfg, "put", &full, e))?;
        Ok(())
    }

    /// Reads the whole object into memory ([`Store::read`] reads it chunk by chunk). A missing key
    /// gives `StorageError::NotFound`.
    pub async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        let body = self.get_object(key).await?.body.collect().await;
        body.map(|b| b.into_bytes())
            .map_err(|e| broken_download(&self.cfg.endpoint, &full_key(&self.prefix, key), e))
    }

    /// Starts a GetObject of `key`; the body is read by the caller.
    pub(crate) async fn get_object(&self, key: &str) -> Result<GetObjectOutput, StorageError> {
        check_key(key)?;
        let full = full_key(&self.prefix, key);
        debug!(key = %full, "storage get");
        match self
            .client
            .get_object()
            .bucket(&self.cfg.bucket)
            .key(&full)
            .send()
            .await
        {
            Ok(out) => Ok(out),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                Err(self.not_found(key))
            }
            Err(err) => Err(classify(&self.cfg, "get", &full, err)),
        }
    }

    /// `Some(size in bytes)` if the object exists, `None` if not.
    pub async fn head(&self, key: &str) -> Result<Option<u64>, StorageError> {
        check_key(key)?;
        let full = full_key(&self.prefix, key);
        debug!(key = %full, "storage head");
        match self
            .client
            .head_object()
            .bucket(&self.cfg.bucket)
            .key(&full)
            .send()
            .await
        {
            Ok(out) => {
                // A negative or absent length would be a server bug; treat it as empty rather
                // than fail a pure existence check.
                let len = out.content_length().unwrap_or(0);
                Ok(Some(u64::try_from(len).unwrap_or(0)))
            }
            Err(err) if status(&err) == Some(404) => Ok(None),
            Err(err) => Err(classify(&self.cfg, "head", &full, err)),
        }
    }

    /// All keys starting with `prefix` (relative to the store prefix), sorted.
    ///
    /// `prefix` is `""` for everything, or a key optionally ending in `/` (`"inputs/"`).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        Ok(self
            .list_objects(prefix)
            .await?
            .into_iter()
            .map(|o| o.key)
            .collect())
    }

    /// [`Store::list`] with each object's size and last-modified time, sorted by key.
    pub async fn list_objects(&self, prefix: &str) -> Result<Vec<StoredObject>, StorageError> {
        check_prefix(prefix)?;
        // The store prefix always ends the listing prefix with '/', so "farm1" never matches
        // keys of a neighbouring "farm10".
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let full_prefix = format!("{strip}{prefix}");
        debug!(prefix = %full_prefix, "storage list");
        let mut objects = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.cfg.bucket)
            .prefix(&full_prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify(&self.cfg, "list", &full_prefix, e))?;
            for obj in page.contents() {
                if let Some(rel) = obj.key().and_then(|k| k.strip_prefix(strip.as_str())) {
                    objects.push(StoredObject {
                        key: rel.to_owned(),
                        size: obj.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
                        modified_ms: obj.last_modified().map_or(0, |t| {
                            t.secs() * 1000 + i64::from(t.subsec_nanos() / 1_000_000)
                        }),
                    });
                }
            }
        }
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        objects.dedup_by(|a, b| a.key == b.key);
        Ok(objects)
    }

    /// Copies the object at `from` to `to` on the server (S3 CopyObject: the bytes never pass
    /// through this process), replacing any object at `to`.
    pub async fn copy(&self, from: &str, to: &str) -> Result<(), StorageError> {
        check_key(from)?;
        check_key(to)?;
        let source = full_key(&self.prefix, from);
        let full = full_key(&self.prefix, to);
        debug!(from = %source, to = %full, "storage copy");
        self.client
            .copy_object()
            .bucket(&self.cfg.bucket)
            .copy_source(format!(
                "{}/{}",
                self.cfg.bucket,
                encode_copy_source(&source)
            ))
            .key(&full)
            .send()
            .await
            .map_err(|e| classify(&self.cfg, "copy", &full, e))?;
        Ok(())
    }

    /// Removes the object; removing a missing key is not an error (S3 semantics).
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        check_key(key)?;
        let full = full_key(&self.prefix, key);
        debug!(key = %full, "storage delete");
        self.client
            .delete_object()
            .bucket(&self.cfg.bucket)
            .key(&full)
            .send()
            .await
            .map_err(|e| classify(&self.cfg, "delete", &full, e))?;
        Ok(())
    }

    /// Uploads an input image content-addressed, as `inputs/<sha256-hex>.<ext>`, unless an object
    /// with that key already exists. Returns the key (without the store prefix) and whether it
    /// already existed. [`Store::upload_input`] does the same chunk by chunk.
    ///
    /// `ext` is normalised like [`crate::input_extension`] (`"JPEG"` -> `"jpg"`).
    pub async fn put_input(&self, data: Bytes, ext: &str) -> Result<(String, bool), StorageError> {
        let mut upload = self.upload_input(ext)?;
        for part in data.chunks(PART_BYTES) {
            upload.write(part).await?;
        }
        let stored = upload.finish().await?;
        Ok((stored.key, stored.existed))
    }

    /// Stores `data` at the content-addressed `key` unless it exists; returns whether it existed.
    pub(crate) async fn put_content_addressed(
        &self,
        key: &str,
        data: Bytes,
    ) -> Result<bool, StorageError> {
        if self.head(key).await?.is_some() {
            debug!(%key, "storage: content-addressed object already present");
            return Ok(true);
        }
        let full = full_key(&self.prefix, key);
        debug!(key = %full, bytes = data.len(), "storage: uploading a content-addressed object");
        // If-None-Match makes a concurrent upload of the same bytes report `existed` truthfully;
        // servers that ignore the header just overwrite with identical content.
        let res = self
            .client
            .put_object()
            .bucket(&self.cfg.bucket)
            .key(&full)
            .if_none_match("*")
            .body(ByteStream::from(data))
            .send()
            .await;
        match res {
            Ok(_) => Ok(false),
            Err(err) if status(&err) == Some(412) => Ok(true),
            Err(err) => Err(classify(&self.cfg, "put_input", &full, err)),
        }
    }

    fn not_found(&self, key: &str) -> StorageError {
        StorageError::NotFound {
            key: key.to_owned(),
            bucket: self.cfg.bucket.clone(),
            endpoint: self.cfg.endpoint.clone(),
        }
    }

    /// Creates the bucket unless it exists. Safe to run from many processes at once.
    async fn ensure_bucket(&self) -> Result<(), StorageError> {
        let bucket = &self.cfg.bucket;
        match self.client.head_bucket().bucket(bucket).send().await {
            Ok(_) => return Ok(()),
            Err(err) if status(&err) == Some(404) => {}
            Err(err) => return Err(classify(&self.cfg, "connect (head bucket)", bucket, err)),
        }
        debug!(%bucket, "storage: creating bucket");
        let Err(err) = self.client.create_bucket().bucket(bucket).send().await else {
            return Ok(());
        };
        let lost_race = err
            .as_service_error()
            .is_some_and(|e| e.is_bucket_already_owned_by_you() || e.is_bucket_already_exists());
        if !lost_race {
            return Err(classify(&self.cfg, "connect (create bucket)", bucket, err));
        }
        // "Already exists" may mean someone else's bucket on a shared namespace; only a
        // successful HEAD proves these credentials can use it.
        self.client
            .head_bucket()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| classify(&self.cfg, "connect (head bucket)", bucket, e))?;
        Ok(())
    }
}
