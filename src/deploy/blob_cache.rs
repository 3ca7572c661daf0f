//! What git already knows: the MD5 and size of each blob a deploy shipped, kept in the deploy marker, so a re-sync
//! does not read the files whose blob a past deploy already hashed. A staged file holds its blob's bytes verbatim
//! (see `StagedSource::blobs`: no filter, nothing from the work tree, Git LFS files left out), so a blob id names
//! its content and the digest recorded for it stays true whatever was deployed since. A file whose blob the
//! marker does not name (new or changed since the last deploy, or an LFS file) is read and hashed.
use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::hash::Md5;

/// A blob's content digest as the deploy would upload it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobDigest {
    pub md5: Md5,
    pub size: u64,
}

/// Blob id -> digest, as recorded in the marker (`blobs`).
pub type BlobDigests = BTreeMap<String, BlobDigest>;

/// The staged files' blobs, by path relative to one mapped folder, with what the marker recorded for them.
pub struct Known<'a> {
    /// Blob id by repository path (`StagedSource::blobs`).
    pub blobs: &'a HashMap<String, String>,
    /// What the last deploy recorded (empty without a marker).
    pub digests: &'a BlobDigests,
}

impl Known<'_> {
    /// The blob of the file at `repo_path` and, when a past deploy hashed that blob, its digest.
    pub fn lookup(&self, repo_path: &str) -> (Option<&str>, Option<BlobDigest>) {
        let blob = self.blobs.get(repo_path).map(String::as_str);
        (blob, blob.and_then(|blob| self.digests.get(blob).copied()))
    }
}
