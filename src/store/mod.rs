//! Object storage behind one small async trait. `open` picks the backend from the URL scheme:
//! `gs://` (GCS JSON API), `s3://` (S3), `file://` (a directory). Every backend is wrapped in
//! [`Retrying`], so callers never write their own retry loops.
pub mod credentials_hint;
mod error;
mod fanout;
mod gcs;
mod local;
mod location;
#[cfg(test)]
pub(crate) mod memory;
mod retry;
mod s3;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

pub use error::{StoreError, StoreErrorKind};
pub use location::{Scheme, StoreUrl};
pub use retry::{RetryPolicy, Retrying};
pub use s3::md5_of_etag;
pub(crate) use s3::{any_variable_set, client as s3_client};

use crate::hash::Md5;

/// One object as a listing reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectMeta {
    /// The key relative to the store's prefix, `/`-separated.
    pub key: String,
    pub size: u64,
    /// The content MD5 when the backend vouches for it: S3's ETag of a single-part upload, GCS's `md5Hash`,
    /// the local backend's own hash. `None` for S3 multipart objects, whose ETag is not an MD5.
    pub md5: Option<Md5>,
    /// Changes whenever the object is rewritten: S3 ETag, GCS generation, local mtime and size.
    pub version: String,
    /// The id this exact content can be read back by later with [`Store::get_version`], even after it is
    /// overwritten or deleted, where the bucket keeps versions: S3's VersionId (versioned buckets only; listings
    /// do not carry it), GCS's generation (readable once noncurrent only with object versioning on). `None` on
    /// `file://`, which keeps no versions.
    pub version_id: Option<String>,
    /// When the object was last written, RFC 3339 UTC, as the listing says (S3 LastModified, GCS `updated`, the
    /// file's mtime): when an out-of-band change happened.
    pub modified: Option<String>,
}

/// Where an upload's bytes come from.
#[derive(Debug, Clone)]
pub enum Body {
    Bytes(Bytes),
    /// A local file, streamed (and split into parts above the multipart threshold).
    File(PathBuf),
}

/// Overwrite; create only when no object has the key (S3 `If-None-Match: *`, GCS `ifGenerationMatch=0`, local
/// exclusive link); or replace only while the object still has the exact version a [`Store::get_versioned`]
/// or an earlier put reported (S3 `If-Match: <ETag>`, GCS `ifGenerationMatch=<generation>`, local compare-and-swap
/// under an flock). The conditional modes are what makes the deploy lock exclusive (src/deploy/lock.rs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutMode {
    Overwrite,
    Create,
    /// Fails with [`StoreErrorKind::Changed`] when the object was rewritten or deleted since `version`.
    Replace(String),
}

#[derive(Debug, Clone)]
pub struct PutRequest {
    pub key: String,
    pub body: Body,
    pub size: u64,
    /// The MD5 of the body: sent for the server to verify, and compared with what the server stored.
    pub md5: Md5,
    pub mode: PutMode,
}

impl PutRequest {
    /// An upload of bytes held in memory (locks, markers), with their size and MD5.
    pub fn bytes(key: &str, bytes: Bytes, mode: PutMode) -> PutRequest {
        PutRequest {
            key: key.into(),
            size: bytes.len() as u64,
            md5: Md5::of_bytes(&bytes),
            body: Body::Bytes(bytes),
            mode,
        }
    }
}

/// An object's bytes and the version they are (one consistent read, for a later conditional write).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    pub bytes: Bytes,
    pub version: String,
}

/// Tunables shared by the backends.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// An endpoint override (emulators, S3-compatible stores); env variables are read when unset.
    pub endpoint: Option<String>,
    /// Objects at least this big are uploaded in parts (S3 multipart, GCS resumable).
    pub multipart_threshold: u64,
    /// The part size for multipart uploads (S3 needs at least 5 MiB, GCS a multiple of 256 KiB).
    pub part_size: u64,
    /// The most keys a listing asks for per page.
    pub page_size: u32,
    /// The longest one request may take from its start (its body upload included) to the server's first
    /// response byte, on S3 and GCS; an attempt past it is retried like a 503. `deploy.request_timeout`.
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
}

/// The default of `deploy.request_timeout`. Under a quarter of the default `lock_ttl`, so a lease renewal that
/// stalls is given up and retried before the lease's write window (half the TTL) closes; long enough for a 16 MiB
/// upload (the multipart threshold, and the largest single request) at 1 MiB/s.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// How long opening a connection may take; a stalled request is bounded by the request timeout instead.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            endpoint: None,
            multipart_threshold: 16 * 1024 * 1024,
            part_size: 8 * 1024 * 1024,
            page_size: 1000,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            retry: RetryPolicy::default(),
        }
    }
}

/// Object storage under one prefix. Keys are relative to that prefix.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// The URL this store writes under, for messages.
    fn url(&self) -> &StoreUrl;
    /// Every object whose key starts with `prefix`, following pagination.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError>;
    /// [`Store::list`] as one flat paginated listing, without the fan-out by sub-folder: for a prefix of a few
    /// hundred keys in sub-folders (dagship's own `.dagship/`), one round trip instead of two.
    async fn list_flat(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        self.list(prefix).await
    }
    /// The object's bytes, or `None` when it does not exist.
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError>;
    /// The object's bytes with their version, or `None` when it does not exist. The version is the one a
    /// `PutMode::Replace` or [`Store::delete_if`] is conditioned on.
    async fn get_versioned(&self, key: &str) -> Result<Option<Versioned>, StoreError>;
    /// The bytes of one kept version (an [`ObjectMeta::version_id`]), or `None` when the bucket no longer has it
    /// (deleted, expired, or never kept because the bucket is not versioned).
    async fn get_version(&self, key: &str, version_id: &str) -> Result<Option<Bytes>, StoreError>;
    /// Writes the object and checks the stored checksum; `PutMode::Create` fails with
    /// `StoreErrorKind::AlreadyExists` when the key exists, `PutMode::Replace` with `StoreErrorKind::Changed`
    /// when the object no longer has the version.
    async fn put(&self, request: &PutRequest) -> Result<ObjectMeta, StoreError>;
    /// Deletes the object; deleting a missing object succeeds.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Deletes the object only while it still has `version` (S3 `If-Match`, GCS `ifGenerationMatch`, local
    /// compare-and-delete under an flock); `StoreErrorKind::Changed` when it was rewritten or is gone.
    async fn delete_if(&self, key: &str, version: &str) -> Result<(), StoreError>;
}

/// Opens the backend for `url`, wrapped with retries.
pub async fn open(url: &StoreUrl, options: &StoreOptions) -> Result<Arc<dyn Store>, StoreError> {
    let inner: Box<dyn Store> = match url.scheme {
        Scheme::File => Box::new(local::LocalStore::new(url.clone())?),
        Scheme::S3 => Box::new(s3::S3Store::connect(url.clone(), options).await?),
        Scheme::Gcs => Box::new(gcs::GcsStore::connect(url.clone(), options).await?),
    };
    Ok(Arc::new(Retrying::new(inner, options.retry.clone())))
}

/// Why no backend can store `key` the same way (or it could escape the prefix), if so. The one rule for every
/// key: plans refuse uploads and ignore bucket objects that break it, and backends refuse to touch them.
pub fn key_problem(key: &str) -> Option<&'static str> {
    if key.is_empty() || key.starts_with('/') {
        Some("not a relative key")
    } else if key.ends_with('/') {
        Some("a folder placeholder (the key ends with `/`)")
    } else if key.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
        Some("an empty, `.` or `..` path part")
    } else if key.chars().any(char::is_control) {
        Some("a control character (newline, tab, escape...)")
    } else {
        None
    }
}

/// Refuses keys that could escape the prefix or that no backend stores the same way.
pub(crate) fn check_key(url: &StoreUrl, key: &str) -> Result<(), StoreError> {
    match key_problem(key) {
        Some(problem) => Err(StoreError::new(StoreErrorKind::Invalid, "use key", url.join(key), problem)),
        None => Ok(()),
    }
}
