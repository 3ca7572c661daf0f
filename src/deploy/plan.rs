//! The plan: what a deploy would upload, replace and delete, decided by content (MD5), never by time.
use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::drifted::Drift;
use super::exclude::{Excludes, Protected};
use super::layout::{Mapping, Phase, owned_by_deeper};
use super::marker::{Marker, ObjectRecord};
use super::source::SourceTree;
use crate::hash::Md5;
use crate::store::ObjectMeta;

/// One object to write or delete. `key` is relative to the environment's bucket URL.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub key: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub md5: Option<Md5>,
    /// A dbt artifact's stamp-free hash, recorded with the object once written (`ObjectRecord::content`).
    #[serde(skip)]
    pub content: Option<Md5>,
    /// The local file to upload (none for deletions).
    #[serde(skip)]
    pub local: Option<PathBuf>,
}

/// The plan for one mapping.
#[derive(Debug, Clone, Serialize)]
pub struct PhasePlan {
    pub phase: Phase,
    pub source: String,
    pub prefix: String,
    pub uploads: Vec<Change>,
    pub replacements: Vec<Change>,
    pub deletions: Vec<Change>,
    pub unchanged: usize,
    /// Bucket objects kept although absent locally, because excluded or protected.
    pub kept: Vec<String>,
    /// Local files not deployed because their key is protected.
    pub protected_skipped: Vec<String>,
    /// Local files left out by the exclude file.
    pub excluded: usize,
    /// Bucket keys left alone because no plain file can have them: folder placeholders (`dags/`, made by the
    /// S3 and GCS consoles' "Create folder") and names with empty, `.` or `..` parts or control characters.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<String>,
    #[serde(skip)]
    pub source_exists: bool,
    #[serde(skip)]
    pub source_files: usize,
    /// Objects under the prefix that this mapping owns (the base of `max_delete` percentages).
    #[serde(skip)]
    pub remote_objects: usize,
    /// Objects already right, with their version and content hash, for the deploy marker.
    #[serde(skip)]
    pub unchanged_objects: Vec<(String, ObjectRecord)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Summary {
    pub uploads: usize,
    pub replacements: usize,
    pub deletions: usize,
    pub unchanged: usize,
    pub upload_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub environment: String,
    pub bucket: String,
    /// The commit whose tree this plan deploys.
    pub commit: String,
    pub summary: Summary,
    pub phases: Vec<PhasePlan>,
    /// The last successful deploy to this environment, from its marker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_deploy: Option<LastDeploy>,
    /// Tracked files under the deployed paths that differ in the work tree from `commit` (never deployed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub uncommitted: Vec<String>,
    /// Files under the deployed paths that git does not track (never deployed).
    pub untracked: usize,
    /// Why a deploy of this plan would be refused; empty when it is safe.
    pub refusals: Vec<String>,
    /// The deployed commit, when this plan's commit is an ancestor of it: deploying it puts older code back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub older_than_deployed: Option<String>,
    /// Objects changed in the bucket outside dagship since the last deploy (src/deploy/drift.rs).
    #[serde(skip_serializing_if = "Drift::none_or_empty")]
    pub drift: Option<Drift>,
    /// The digest of every blob the commit's deployed files hold, for the marker (src/deploy/blob_cache.rs).
    #[serde(skip)]
    pub blobs: super::blob_cache::BlobDigests,
}

#[derive(Debug, Clone, Serialize)]
pub struct LastDeploy {
    pub commit: String,
    pub deployed_at: String,
}

impl Plan {
    pub fn is_noop(&self) -> bool {
        self.summary.uploads + self.summary.replacements + self.summary.deletions == 0
    }
}

/// The inputs of one mapping's plan.
pub struct MappingState<'a> {
    pub mapping: &'a Mapping,
    pub tree: &'a SourceTree,
    /// The bucket's objects under the mapping's prefix, keys relative to the environment URL.
    pub remote: &'a [ObjectMeta],
}

pub struct Rules<'a> {
    /// Every prefix some mapping owns (see `layout::owned_prefixes`).
    pub owned_prefixes: &'a [String],
    pub excludes: &'a Excludes,
    pub protected: &'a Protected,
    pub marker: Option<&'a Marker>,
}

pub fn plan_mapping(state: &MappingState, rules: &Rules) -> PhasePlan {
    let mapping = state.mapping;
    let mut phase = PhasePlan {
        phase: mapping.phase,
        source: mapping.source.clone(),
        prefix: mapping.prefix.clone(),
        uploads: Vec::new(),
        replacements: Vec::new(),
        deletions: Vec::new(),
        unchanged: 0,
        kept: Vec::new(),
        protected_skipped: Vec::new(),
        excluded: state.tree.excluded,
        ignored: Vec::new(),
        source_exists: state.tree.exists,
        source_files: state.tree.files.len(),
        remote_objects: 0,
        unchanged_objects: Vec::new(),
    };
    let mut remote: BTreeMap<&str, &ObjectMeta> = BTreeMap::new();
    for object in state.remote.iter().filter(|object| !owned_by_deeper(rules.owned_prefixes, mapping, &object.key)) {
        if crate::store::key_problem(&object.key).is_some() {
            phase.ignored.push(object.key.clone());
        } else {
            remote.insert(object.key.as_str(), object);
        }
    }
    phase.remote_objects = remote.len();
    for (relative, file) in &state.tree.files {
        let key = format!("{}{relative}", mapping.prefix);
        // A key under a prefix dagship reads or another mapping owns is not this mirror's to write.
        if rules.protected.protects(&key) || owned_by_deeper(rules.owned_prefixes, mapping, &key) {
            phase.protected_skipped.push(key);
            continue;
        }
        let change = Change {
            key: key.clone(),
            size: file.size,
            md5: Some(file.md5),
            content: file.content,
            local: Some(file.path.clone()),
        };
        match remote.get(key.as_str()) {
            None => phase.uploads.push(change),
            Some(object) => match remote_md5(object, rules.marker) {
                Some(md5) if md5 == file.md5 && object.size == file.size => {
                    phase.unchanged += 1;
                    let record = ObjectRecord {
                        md5,
                        size: object.size,
                        version: object.version.clone(),
                        version_id: version_id(object, rules.marker),
                        content: file.content,
                    };
                    phase.unchanged_objects.push((key, record));
                }
                _ => match same_content(object, file.content, rules.marker) {
                    Some(record) => {
                        phase.unchanged += 1;
                        phase.unchanged_objects.push((key, record));
                    }
                    None => phase.replacements.push(change),
                },
            },
        }
    }
    for (key, object) in remote {
        let relative = &key[mapping.prefix.len()..];
        if state.tree.files.contains_key(relative) {
            continue;
        }
        let repo_path = format!("{}/{relative}", mapping.source);
        let excluded = mapping.staged.is_none() && rules.excludes.excludes(&repo_path);
        if rules.protected.protects(key) || excluded {
            phase.kept.push(key.to_string());
        } else {
            let deletion =
                Change { key: key.to_string(), size: object.size, md5: object.md5, content: None, local: None };
            phase.deletions.push(deletion);
        }
    }
    phase
}

/// The object's content hash: the marker's when it recorded this very version (S3 multipart and KMS objects
/// have no MD5 ETag), else the backend's.
fn remote_md5(object: &ObjectMeta, marker: Option<&Marker>) -> Option<Md5> {
    recorded(object, marker).map(|record| record.md5).or(object.md5)
}

/// The kept version an unchanged object is: the listing's (GCS generation), else the marker's record of this
/// very object (S3 listings carry no VersionId).
fn version_id(object: &ObjectMeta, marker: Option<&Marker>) -> Option<String> {
    object.version_id.clone().or_else(|| recorded(object, marker).and_then(|record| record.version_id.clone()))
}

/// The marker's record of `object`, when the marker recorded this very version with the same stamp-free hash as
/// the local file's: a dbt artifact rebuilt from the same project, differing only in its run's stamps, which the
/// bucket keeps (see `artifact_hash`). A version the marker did not record (drift, a hand edit) never matches.
fn same_content(object: &ObjectMeta, content: Option<Md5>, marker: Option<&Marker>) -> Option<ObjectRecord> {
    let content = content?;
    recorded(object, marker).filter(|record| record.content == Some(content)).cloned()
}

/// The marker's record of this very version of `object` (same version and size), if the marker has one.
fn recorded<'a>(object: &ObjectMeta, marker: Option<&'a Marker>) -> Option<&'a ObjectRecord> {
    marker?.objects.get(&object.key).filter(|record| record.version == object.version && record.size == object.size)
}

pub fn summarize(phases: &[PhasePlan]) -> Summary {
    let mut summary = Summary::default();
    for phase in phases {
        summary.uploads += phase.uploads.len();
        summary.replacements += phase.replacements.len();
        summary.deletions += phase.deletions.len();
        summary.unchanged += phase.unchanged;
        summary.upload_bytes += phase.uploads.iter().chain(&phase.replacements).map(|change| change.size).sum::<u64>();
    }
    summary
}
