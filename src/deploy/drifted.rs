//! What drift is, as data: objects changed, added or removed outside dagship since a deploy (computed in
//! src/deploy/drift.rs, carried by the plan).
use serde::Serialize;

use super::layout::Phase;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    Changed,
    Added,
    Removed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drifted {
    pub key: String,
    pub kind: DriftKind,
    pub phase: Phase,
    /// When the object was last written (changed, added), RFC 3339 UTC, as the bucket listing says (S3
    /// LastModified, GCS `updated`, the file's mtime). A removal leaves nothing to list, so no time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<String>,
}

/// What changed in the bucket since the baseline deploy.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Drift {
    /// The ledger record compared with (`marker` when the environment has no ledger yet).
    pub since: String,
    pub since_commit: String,
    pub objects: Vec<Drifted>,
    /// Where to find who made the changes: no backend keeps the writer with the object, so this names the
    /// backend's audit log (said once, not per object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub who: Option<String>,
}

impl Drift {
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// For `skip_serializing_if`: a plan shows drift only when there is some.
    pub fn none_or_empty(drift: &Option<Drift>) -> bool {
        drift.as_ref().is_none_or(Drift::is_empty)
    }
}

/// Where a backend's writers are recorded, for drift reports.
pub fn who_hint(scheme: crate::store::Scheme) -> &'static str {
    match scheme {
        crate::store::Scheme::S3 => {
            "S3 does not keep who wrote an object: CloudTrail data events for this bucket (PutObject, DeleteObject), \
             when they are enabled, name the principal"
        }
        crate::store::Scheme::Gcs => {
            "GCS does not keep who wrote an object: Cloud Audit Logs Data Access logs for Cloud Storage \
             (storage.objects.create, storage.objects.delete), when they are enabled, name the principal"
        }
        crate::store::Scheme::File => "a directory does not keep who wrote a file: the host's own audit log, if any",
    }
}

pub fn kind_name(kind: DriftKind) -> &'static str {
    match kind {
        DriftKind::Changed => "changed",
        DriftKind::Added => "added",
        DriftKind::Removed => "removed",
    }
}
