//! What git already knows: the MD5 and size of each blob a deploy shipped, kept in the deploy marker, so a re-sync
//! does not read the files whose blob a past deploy already hashed. A staged file holds its blob's bytes verbatim
//! (see `StagedSource::blobs`: no filter, nothing from the work tree, Git LFS files left out), so a blob id names
//! its content and the digest recorded for it stays true whatever was deployed since. A file whose blob the
//! marker does not name (new or changed since the last deploy, or an LFS file) is read and hashed; the others are
//! not even written into the staging folder unless the plan uploads them (src/deploy/commit_files.rs).
use std::collections::BTreeMap;

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
