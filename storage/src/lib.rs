//! stylefarm's one object-store API.
//!
//! Everything the farm stores — content-addressed inputs, style targets, job outputs — goes through
//! [`Store`], which speaks S3 (aws-sdk-s3, path-style, static credentials) to any S3-compatible
//! server. For a single machine and for tests, [`EmbeddedS3`] runs such a server in-process over a
//! local folder, so the same code path is exercised everywhere.
//!
//! Keys are never built from unchecked user strings: [`check_key`] guards every key a `Store`
//! sends, and [`input_extension`] normalises the only user-supplied part of input keys.
//!
//! Layout:
//! - `config`: [`StorageConfig`], where the store is and how to sign requests
//! - `store`: [`Store`], put / get / head / list / delete / put_input
//! - `stream`: [`Upload`] and [`ObjectReader`], objects moved in pieces (multipart upload), so
//!   that none is held whole in memory
//! - `presigned`: [`Store::presign`] (the coordinator signs) and [`PresignedClient`] (workers
//!   move bytes over the URLs, holding no keys)
//! - `keys`: key validation, input extensions, content-addressed input keys
//! - `embedded`: [`EmbeddedS3`], the in-process s3s + s3s-fs server
//! - `credentials`: the embedded server's persisted random keys
//! - `sdk_error`: sorting aws-sdk-s3 errors into actionable [`StorageError`]s
//! - `error`: [`StorageError`]

mod config;
mod credentials;
mod embedded;
mod error;
mod keys;
mod presigned;
mod sdk_error;
mod store;
mod stream;

pub use config::{DEFAULT_REGION, StorageConfig};
pub use credentials::CREDENTIALS_FILE;
pub use embedded::EmbeddedS3;
pub use error::StorageError;
pub use keys::{MAX_KEY_LEN, check_key, input_extension};
pub use presigned::{Access, MAX_PRESIGNED_LIFETIME, PresignedClient};
pub use store::{Store, StoredObject};
pub use stream::{MAX_INPUT_BYTES, ObjectReader, PART_BYTES, Upload, Uploaded};
