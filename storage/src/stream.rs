//! Objects moved in pieces, so that a process holds at most a part of one in memory however large it
//! is: [`Upload`] writes an object chunk by chunk (S3 multipart upload once it outgrows one part),
//! [`ObjectReader`] reads one chunk by chunk.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{Bytes, BytesMut};
use futures::Stream;
use sha2::{Digest, Sha256};
use tracing::{debug, warn};

use crate::error::StorageError;
use crate::keys::{check_key, full_key, input_key, normalize_extension};
use crate::sdk_error::{classify, status};
use crate::store::Store;

/// Bytes of one multipart part: what an [`Upload`] holds in memory at most (plus the chunk being
/// written). S3 wants at least 5 MiB for every part but the last and at most 10,000 parts, so an
/// object may reach 80 GB (S3's own limit is 5 TB).
pub const PART_BYTES: usize = 8 << 20;

/// The largest input [`Store::upload_input`] takes, in bytes: an input larger than one part is
/// uploaded under a temporary key and copied to its content address with CopyObject, which S3
/// allows up to 5 GiB.
pub const MAX_INPUT_BYTES: u64 = 5 << 30;

/// A multipart upload under way: its id and the parts the server has taken, in order.
struct Multipart {
    upload_id: String,
    parts: Vec<CompletedPart>,
}

/// What an [`Upload`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// The object's key, relative to the store prefix.
    pub key: String,
    /// Bytes.
    pub size: u64,
    /// For an input: whether an object with that content was already stored (the upload then added
    /// nothing). Always `false` for [`Store::upload`].
    pub existed: bool,
}

/// An object being written chunk by chunk ([`Store::upload`], [`Store::upload_input`]).
///
/// It holds at most [`PART_BYTES`] (plus the chunk being written). An object that fits in one part
/// is sent with one PutObject by [`Upload::finish`]; a larger one goes up as a multipart upload,
/// one part each time a part fills. An upload dropped before `finish`, or given up with
/// [`Upload::abort`], is aborted, so its parts do not linger on the server.
pub struct Upload {
    store: Store,
    /// The key the bytes go to (relative to the store prefix): the caller's, or for an input a
    /// temporary `uploads/…` key, since its content address is known only at the end.
    key: String,
    /// The full key (store prefix included).
    full: String,
    /// For an input, its normalised extension.
    input_ext: Option<String>,
    pending: BytesMut,
    multipart: Option<Multipart>,
    size: u64,
    sha256: Sha256,
}

impl Store {
    /// Starts writing the object at `key`, replacing any existing one when finished.
    ///
    /// Errors: a bad key ([`StorageError::BadKey`]); nothing is sent until the first part fills.
    pub fn upload(&self, key: &str) -> Result<Upload, StorageError> {
        check_key(key)?;
        Ok(self.new_upload(key.to_owned(), None))
    }

    /// Starts writing an input image, stored content-addressed as `inputs/<sha256-hex>.<ext>` unless
    /// an object with that key exists already. `ext` is normalised like
    /// [`crate::input_extension`] (`"JPEG"` → `"jpg"`); at most [`MAX_INPUT_BYTES`] may be written.
    pub fn upload_input(&self, ext: &str) -> Result<Upload, StorageError> {
        let ext = normalize_extension(ext).ok_or_else(|| StorageError::BadExtension {
            file_name: format!("*.{ext}"),
            reason: format!("extension '{ext}' is not supported"),
        })?;
        let temporary = format!("uploads/{:032x}", rand::random::<u128>());
        Ok(self.new_upload(temporary, Some(ext)))
    }

    /// Opens the object at `key` for reading chunk by chunk. A missing key gives
    /// [`StorageError::NotFound`].
    pub async fn read(&self, key: &str) -> Result<ObjectReader, StorageError> {
        let out = self.get_object(key).await?;
        Ok(ObjectReader {
            size: out.content_length().and_then(|n| u64::try_from(n).ok()),
            body: out.body,
            pending: BytesMut::new(),
            endpoint: self.config().endpoint.clone(),
            key: full_key(self.prefix(), key),
        })
    }

    fn new_upload(&self, key: String, input_ext: Option<String>) -> Upload {
        Upload {
            store: self.clone(),
            full: full_key(self.prefix(), &key),
            key,
            input_ext,
            pending: BytesMut::new(),
            multipart: None,
            size: 0,
            sha256: Sha256::new(),
        }
    }
}

impl Upload {
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends `data`; sends a part to the server each time one fills.
    ///
    /// Errors: the server's, as for [`Store::put`]; an input past [`MAX_INPUT_BYTES`].
    pub async fn write(&mut self, data: &[u8]) -> Result<(), StorageError> {
        self.size += data.len() as u64;
        if self.input_ext.is_some() {
            if self.size > MAX_INPUT_BYTES {
                return Err(StorageError::S3 {
                    op: "upload".to_owned(),
                    key: self.full.clone(),
                    message: format!(
                        "an input may be at most {MAX_INPUT_BYTES} bytes (S3's CopyObject limit); \
                         shrink the picture"
                    ),
                });
            }
            self.sha256.update(data);
        }
        self.pending.extend_from_slice(data);
        while self.pending.len() >= PART_BYTES {
            let part = self.pending.split_to(PART_BYTES).freeze();
            self.send_part(part).await?;
        }
        Ok(())
    }

    /// Stores what was written: one PutObject when it fits in one part, else the last part and
    /// CompleteMultipartUpload. An input is then copied to its content address (unless present)
    /// and its temporary object deleted.
    pub async fn finish(mut self) -> Result<Uploaded, StorageError> {
        let store = self.store.clone();
        let size = self.size;
        let content_key =
            (self.input_ext.take()).map(|ext| input_key(std::mem::take(&mut self.sha256), &ext));
        if self.multipart.is_none() {
            let data = std::mem::take(&mut self.pending).freeze();
            return match content_key {
                Some(key) => {
                    let existed = store.put_content_addressed(&key, data).await?;
                    Ok(Uploaded { key, size, existed })
                }
                None => {
                    store.put(&self.key, data).await?;
                    Ok(Uploaded {
                        key: self.key.clone(),
                        size,
                        existed: false,
                    })
                }
            };
        }
        self.complete().await?;
        let Some(key) = content_key else {
            return Ok(Uploaded {
                key: self.key.clone(),
                size,
                existed: false,
            });
        };
        let moved = match store.head(&key).await {
            Ok(Some(_)) => Ok(true),
            Ok(None) => store.copy(&self.key, &key).await.map(|()| false),
            Err(e) => Err(e),
        };
        // Deleted whatever the copy did: a failed upload leaves nothing behind.
        if let Err(e) = store.delete(&self.key).await {
            warn!(key = %self.full, error = %e, "could not delete a finished upload's temporary object");
        }
        let existed = moved?;
        Ok(Uploaded { key, size, existed })
    }

    /// Sends the last part and completes the multipart upload.
    async fn complete(&mut self) -> Result<(), StorageError> {
        if !self.pending.is_empty() {
            let last = std::mem::take(&mut self.pending).freeze();
            self.send_part(last).await?;
        }
        let multipart = self
            .multipart
            .take()
            .expect("a multipart upload was started");
        let store = &self.store;
        let completed = store
            .client()
            .complete_multipart_upload()
            .bucket(&store.config().bucket)
            .key(&self.full)
            .upload_id(&multipart.upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(multipart.parts))
                    .build(),
            )
            .send()
            .await;
        if let Err(err) = completed {
            // moto answers 200 with a body the SDK cannot read (its root element is
            // CompleteMultipartUploadResponse, not …Result): the upload is complete when the
            // object is there at its full size.
            if status(&err) == Some(200) && store.head(&self.key).await? == Some(self.size) {
                debug!(key = %self.full, "storage upload: completed (unreadable answer, object present)");
                return Ok(());
            }
            abort_in_background(store, self.full.clone(), multipart.upload_id);
            return Err(classify(
                store.config(),
                "upload (complete)",
                &self.full,
                err,
            ));
        }
        debug!(key = %self.full, size = self.size, "storage upload: complete");
        Ok(())
    }

    /// Gives the upload up: a multipart upload is aborted on the server, and nothing is stored.
    pub async fn abort(mut self) {
        if let Some(multipart) = self.multipart.take() {
            abort(&self.store, &self.full, &multipart.upload_id).await;
        }
    }

    async fn send_part(&mut self, part: Bytes) -> Result<(), StorageError> {
        let store = self.store.clone();
        let bucket = &store.config().bucket;
        if self.multipart.is_none() {
            let created = store
                .client()
                .create_multipart_upload()
                .bucket(bucket)
                .key(&self.full)
                .send()
                .await
                .map_err(|e| classify(store.config(), "upload (start)", &self.full, e))?;
            let upload_id = created.upload_id().unwrap_or_default().to_owned();
            if upload_id.is_empty() {
                return Err(StorageError::S3 {
                    op: "upload (start)".to_owned(),
                    key: self.full.clone(),
                    message: format!(
                        "the server at {} started a multipart upload without an id; \
                         it does not implement S3's multipart upload",
                        store.config().endpoint
                    ),
                });
            }
            self.multipart = Some(Multipart {
                upload_id,
                parts: Vec::new(),
            });
        }
        let multipart = self.multipart.as_mut().expect("started above");
        let number = i32::try_from(multipart.parts.len() + 1).unwrap_or(i32::MAX);
        debug!(key = %self.full, part = number, bytes = part.len(), "storage upload: part");
        let sent = store
            .client()
            .upload_part()
            .bucket(bucket)
            .key(&self.full)
            .upload_id(&multipart.upload_id)
            .part_number(number)
            .body(ByteStream::from(part))
            .send()
            .await
            .map_err(|e| classify(store.config(), "upload (part)", &self.full, e))?;
        multipart.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(sent.e_tag().map(str::to_owned))
                .build(),
        );
        Ok(())
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(multipart) = self.multipart.take() {
            abort_in_background(&self.store, self.full.clone(), multipart.upload_id);
        }
    }
}

/// Aborts a multipart upload without waiting (from `Drop`, or after a failed completion), where a
/// tokio runtime is at hand; otherwise the server's own clean-up of stale uploads takes it.
fn abort_in_background(store: &Store, full: String, upload_id: String) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let store = store.clone();
        runtime.spawn(async move { abort(&store, &full, &upload_id).await });
    }
}

async fn abort(store: &Store, full: &str, upload_id: &str) {
    let aborted = store
        .client()
        .abort_multipart_upload()
        .bucket(&store.config().bucket)
        .key(full)
        .upload_id(upload_id)
        .send()
        .await;
    match aborted {
        Ok(_) => debug!(key = %full, "storage upload: aborted"),
        // Already gone (completed or aborted by someone else).
        Err(e) if status(&e) == Some(404) => {}
        Err(e) => warn!(key = %full, error = %classify(store.config(), "upload (abort)", full, e),
            "could not abort a multipart upload; the server's lifecycle rules must remove its parts"),
    }
}

/// An object being read chunk by chunk ([`Store::read`]).
pub struct ObjectReader {
    body: ByteStream,
    size: Option<u64>,
    pending: BytesMut,
    endpoint: String,
    key: String,
}

impl ObjectReader {
    /// The object's size in bytes, as the server announced it.
    pub fn size(&self) -> Option<u64> {
        self.size
    }

    /// The next at most `max` bytes (`max` ≥ 1), `None` at the end. Small network reads are
    /// gathered up to `max`, so that the caller's messages are not tiny.
    ///
    /// Errors: the download broke off ([`StorageError::S3`]).
    pub async fn next_chunk(&mut self, max: usize) -> Result<Option<Bytes>, StorageError> {
        let max = max.max(1);
        while self.pending.len() < max {
            match self.body.next().await {
                Some(Ok(data)) => self.pending.extend_from_slice(&data),
                Some(Err(e)) => return Err(broken_download(&self.endpoint, &self.key, e)),
                None => break,
            }
        }
        if self.pending.is_empty() {
            return Ok(None);
        }
        let n = self.pending.len().min(max);
        Ok(Some(self.pending.split_to(n).freeze()))
    }

    /// The rest of the object as a stream of chunks of at most `max` bytes
    /// ([`ObjectReader::next_chunk`]), for response bodies.
    pub fn into_chunks(
        self,
        max: usize,
    ) -> impl Stream<Item = Result<Bytes, StorageError>> + Send + 'static {
        futures::stream::try_unfold(self, move |mut reader| async move {
            Ok(reader.next_chunk(max).await?.map(|chunk| (chunk, reader)))
        })
    }
}

/// A download from `endpoint` of the full key `key` that broke off.
pub(crate) fn broken_download(
    endpoint: &str,
    key: &str,
    e: impl std::fmt::Display,
) -> StorageError {
    StorageError::S3 {
        op: "get".to_owned(),
        key: key.to_owned(),
        message: format!(
            "the download from {endpoint} broke off: {e}; retry, and check the network and the server"
        ),
    }
}
