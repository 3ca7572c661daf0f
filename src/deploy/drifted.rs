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
}

/// What changed in the bucket since the baseline deploy.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Drift {
    /// The ledger record compared with (`marker` when the environment has no ledger yet).
    pub since: String,
    pub since_commit: String,
    pub objects: Vec<Drifted>,
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

pub fn kind_name(kind: DriftKind) -> &'static str {
    match kind {
        DriftKind::Changed => "changed",
        DriftKind::Added => "added",
        DriftKind::Removed => "removed",
    }
}
