//! The deploy marker, `.dagship/last-deploy.json` under the environment's URL: what the last successful
//! deploy wrote (commit, time, per-object hashes). Plans trust its hashes for objects whose version it
//! recorded, and `detect --since-deploy` diffs from its commit.
use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::hash::Md5;
use crate::store::{PutMode, PutRequest, Store, StoreError};

/// What the deploy marker remembers about one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ObjectRecord {
    pub md5: Md5,
    pub size: u64,
    pub version: String,
    /// The id the bucket keeps this content under (S3 VersionId, GCS generation; see
    /// [`crate::store::ObjectMeta::version_id`]): what a rollback restores from when the commit is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// A dbt artifact's stamp-free hash (src/deploy/artifact_hash.rs): a rebuild of the same commit, differing
    /// only in its run's stamps, compares equal to this object without downloading it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Md5>,
}

pub const MARKER_KEY: &str = ".dagship/last-deploy.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Marker {
    pub environment: String,
    pub commit: String,
    pub deployed_at: String,
    pub tool_version: String,
    /// Every object the deploy manages, keyed relative to the environment URL.
    pub objects: BTreeMap<String, ObjectRecord>,
    /// The ledger record of this deploy (src/deploy/ledger.rs); absent in markers written before the ledger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_id: Option<String>,
    /// The digest of every git blob this deploy's files hold (src/deploy/blob_cache.rs): the next deploy reads
    /// only the files whose blob is not here. Absent in markers written before it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub blobs: super::blob_cache::BlobDigests,
}

/// Reads the marker. A marker that does not parse is ignored with a warning: it only ever saves work.
pub async fn read(store: &dyn Store) -> Result<Option<Marker>, StoreError> {
    let Some(bytes) = store.get(MARKER_KEY).await? else { return Ok(None) };
    match serde_json::from_slice(&bytes) {
        Ok(marker) => Ok(Some(marker)),
        Err(err) => {
            crate::notice::announce(
                crate::notice::Level::Warning,
                &format!("ignoring the unreadable deploy marker {}: {err}", store.url().join(MARKER_KEY)),
            );
            Ok(None)
        }
    }
}

pub async fn write(store: &dyn Store, marker: &Marker) -> Result<(), StoreError> {
    let bytes = Bytes::from(serde_json::to_vec(marker).expect("the marker serializes"));
    store.put(&PutRequest::bytes(MARKER_KEY, bytes, PutMode::Overwrite)).await.map(|_| ())
}
