//! One error type for every backend: what was attempted, on which URL, and what kind of failure it was
//! (the kind decides retries and exit codes).
use std::fmt;

use crate::error_kind::ErrorKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// A conditional create found the key taken.
    AlreadyExists,
    /// A conditional replace or delete found the object rewritten or gone since the version it named.
    Changed,
    /// The write was refused before it started: the deploy's lock lease is lost or unconfirmed (a takeover may
    /// be under way), so writing could interleave with another deploy. See src/deploy/lease.rs.
    Fenced,
    /// Throttling, a 5xx, a timeout or a dropped connection: worth retrying.
    Transient,
    /// Credentials missing or refused.
    Denied,
    /// The client found no credentials at all: the message names the sources tried and the fix.
    NoCredentials,
    /// The bucket does not exist.
    NoBucket,
    /// The server stored different bytes than we sent.
    Checksum,
    /// A bad URL or key; fixing the input is the only cure.
    Invalid,
    /// Anything else the server or the file system refused.
    Other,
}

#[derive(Debug)]
pub struct StoreError {
    pub kind: StoreErrorKind,
    /// What was attempted: "list", "upload", "delete", ...
    pub operation: &'static str,
    /// The URL of the object or prefix.
    pub target: String,
    pub message: String,
    /// The raw error behind a rewritten message (an SDK's credential chain), shown with `--verbose`.
    pub detail: Option<String>,
}

impl StoreError {
    pub fn new(
        kind: StoreErrorKind,
        operation: &'static str,
        target: impl Into<String>,
        message: impl fmt::Display,
    ) -> Self {
        StoreError { kind, operation, target: target.into(), message: message.to_string(), detail: None }
    }

    /// The client found no credentials: `message` says which sources and the fix, `raw` is the SDK's own text.
    pub fn no_credentials(
        operation: &'static str,
        target: impl Into<String>,
        message: String,
        raw: impl fmt::Display,
    ) -> Self {
        let detail = Some(raw.to_string());
        StoreError { kind: StoreErrorKind::NoCredentials, operation, target: target.into(), message, detail }
    }

    pub fn is_transient(&self) -> bool {
        self.kind == StoreErrorKind::Transient
    }

    pub fn kind(&self) -> ErrorKind {
        match self.kind {
            StoreErrorKind::Invalid => ErrorKind::Usage,
            _ => ErrorKind::Remote,
        }
    }

    fn hint(&self) -> &'static str {
        match self.kind {
            StoreErrorKind::Denied => {
                " (check the credentials: GOOGLE_APPLICATION_CREDENTIALS or `gcloud auth application-default login` \
                 for gs://, the AWS default chain (env, profile, web identity) for s3://)"
            }
            StoreErrorKind::NoBucket => " (check the environment's `bucket` in dagship.yml)",
            StoreErrorKind::Transient => " (gave up after retries)",
            _ => "",
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}{}", self.operation, self.target, self.message, self.hint())?;
        match &self.detail {
            Some(detail) => write!(f, "{}", crate::verbose::raw_detail(detail)),
            None => Ok(()),
        }
    }
}

impl std::error::Error for StoreError {}
