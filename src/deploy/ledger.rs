//! The deploy ledger: one immutable record per deploy, rollback, or deploy refused or failed under the lock, at
//! `.dagship/history/<id>.json` under the environment's URL (beside the lock and the marker).
//!
//! - **Whole or absent.** A record is one object, written once with a create-only precondition (S3
//!   `If-None-Match: *`, GCS `ifGenerationMatch=0`, a local exclusive link of a fully written file): a crash
//!   leaves either the whole record or nothing, and no later write replaces it.
//! - **Written under the lock**, after the deploy's last object write and before the marker, so the newest
//!   deployed record always names what the bucket holds once its writes finished. A crash between the objects and
//!   the record leaves the marker on the previous deploy: the next deploy finds it out of date and records itself.
//! - **Ids sort by time**: `2026-11-30T012201.123Z-1a2b3c` (the writer's clock to the millisecond, then random),
//!   so a listing in key order is the history in order. Deploys to one environment are serialised by the lock,
//!   so only a clock stepped back by more than a deploy's duration could reorder two records.
//! - Refusals decided **before** the lock write nothing at all (the trust rule "a refused deploy writes
//!   nothing"): they are in the run's log and exit code, not here.
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::marker::ObjectRecord;
use super::plan::Summary;
use crate::store::{PutMode, PutRequest, Store, StoreError, StoreErrorKind};

pub const HISTORY_PREFIX: &str = ".dagship/history/";
const SUFFIX: &str = ".json";

/// What a record stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Deploy,
    /// `dagship rollback`: a deploy of an earlier record's commit.
    Rollback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every write finished; `objects` is what the mappings hold.
    Deployed,
    /// Refused under the lock (the bucket changed between the first plan and the locked one).
    Refused,
    /// Stopped by an error part-way; `objects` is empty (the next deploy completes it).
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub kind: Kind,
    pub outcome: Outcome,
    pub environment: String,
    /// When the record was written (RFC 3339, UTC).
    pub time: String,
    pub commit: String,
    /// The commit the marker named before this deploy.
    #[serde(default)]
    pub previous_commit: Option<String>,
    /// For a rollback: the record whose object set it restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_to: Option<String>,
    #[serde(default)]
    pub actor: Option<String>,
    #[serde(default)]
    pub run_url: Option<String>,
    pub summary: Summary,
    pub duration_seconds: f64,
    /// Why a refused or failed deploy stopped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    pub tool_version: String,
    /// Every object the mappings hold after the deploy, keyed relative to the environment URL (the marker's set).
    #[serde(default)]
    pub objects: BTreeMap<String, ObjectRecord>,
    /// The DAG ids each deployed DAG file defines (file path in the repository -> ids), when a DAG check ran for
    /// the deploy; empty otherwise. A pull request check compares its DAG ids with these (the environment's, not
    /// the base commit's) when they are there.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dags: BTreeMap<String, Vec<String>>,
}

impl Record {
    pub fn key(&self) -> String {
        key_of(&self.id)
    }
}

fn key_of(id: &str) -> String {
    format!("{HISTORY_PREFIX}{id}{SUFFIX}")
}

/// A new record id for a record written at `now`.
pub fn new_id(now: SystemTime) -> String {
    let stamp = humantime::format_rfc3339_millis(now).to_string().replace(':', "");
    format!("{stamp}-{}", &crate::random::random_hex()[..6])
}

pub fn format_seconds(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0).round() / 1000.0
}

/// Appends `record`, never replacing an existing one.
pub async fn append(store: &dyn Store, record: &Record) -> Result<(), StoreError> {
    let bytes = Bytes::from(serde_json::to_vec(record).expect("records serialize"));
    let key = record.key();
    match store.put(&PutRequest::bytes(&key, bytes.clone(), PutMode::Create)).await {
        Ok(_) => Ok(()),
        // The create landed, its answer was lost, and the retry found our own record.
        Err(err) if err.kind == StoreErrorKind::AlreadyExists && store.get(&key).await?.as_ref() == Some(&bytes) => {
            Ok(())
        }
        Err(err) => Err(err),
    }
}

/// Every record id, oldest first.
pub async fn ids(store: &dyn Store) -> Result<Vec<String>, StoreError> {
    Ok(ids_in(&store.list(HISTORY_PREFIX).await?))
}

/// The record ids among listed objects (a listing of `.dagship/` or of the history), oldest first.
pub fn ids_in(objects: &[crate::store::ObjectMeta]) -> Vec<String> {
    let mut ids: Vec<String> = objects
        .iter()
        .filter_map(|object| object.key.strip_prefix(HISTORY_PREFIX)?.strip_suffix(SUFFIX).map(str::to_string))
        .filter(|id| !id.contains('/'))
        .collect();
    ids.sort();
    ids
}

/// One record; a record that does not parse is skipped with a warning (the history stays readable).
pub async fn read(store: &dyn Store, id: &str) -> Result<Option<Record>, StoreError> {
    let Some(bytes) = store.get(&key_of(id)).await? else { return Ok(None) };
    match serde_json::from_slice(&bytes) {
        Ok(record) => Ok(Some(record)),
        Err(err) => {
            crate::notice::announce(
                crate::notice::Level::Warning,
                &format!("skipping the unreadable history record {}: {err}", store.url().join(&key_of(id))),
            );
            Ok(None)
        }
    }
}

/// The newest `limit` records, newest first.
pub async fn newest(store: &dyn Store, limit: usize) -> Result<Vec<Record>, StoreError> {
    let ids = ids(store).await?;
    let wanted = ids.iter().rev().take(limit);
    let records = futures::future::try_join_all(wanted.map(|id| read(store, id))).await?;
    Ok(records.into_iter().flatten().collect())
}

/// The newest deployed record among `ids` (in ledger order), or None when there is none or when the newest is
/// `known` (a record whose objects the caller holds already: the marker's, which the marker repeats), which is then
/// not read.
pub async fn last_deployed_before(
    store: &dyn Store,
    ids: &[String],
    known: Option<&str>,
) -> Result<Option<Record>, StoreError> {
    for id in ids.iter().rev() {
        if Some(id.as_str()) == known {
            return Ok(None);
        }
        if let Some(record) = read(store, id).await?
            && record.outcome == Outcome::Deployed
        {
            return Ok(Some(record));
        }
    }
    Ok(None)
}

/// Removes the oldest records beyond the newest `keep`, never `current` (the record the marker names), and
/// returns how many it removed. Run after a deploy is recorded, under its lock.
pub async fn prune(store: &dyn Store, keep: usize, current: &str) -> Result<usize, StoreError> {
    let ids = ids(store).await?;
    let excess = ids.len().saturating_sub(keep.max(1));
    let oldest = ids.iter().take(excess).filter(|id| id.as_str() != current);
    let mut removed = 0;
    for id in oldest {
        store.delete(&key_of(id)).await?;
        removed += 1;
    }
    Ok(removed)
}

/// Every deployed record, newest first (what `rollback` chooses from).
pub async fn deployed(store: &dyn Store) -> Result<Vec<Record>, StoreError> {
    let all = newest(store, usize::MAX).await?;
    Ok(all.into_iter().filter(|record| record.outcome == Outcome::Deployed).collect())
}

/// The deployed record a rollback restores, and the current one it replaces. `to` is a record id, or a commit
/// (full or abbreviated, at least 4 characters: the newest deployed record of that commit); by default the
/// newest deployed record before the current one whose commit differs from the current one's.
pub async fn rollback_target(store: &dyn Store, to: Option<&str>) -> Result<(Record, Record), RollbackError> {
    let ids = ids(store).await?;
    let mut current: Option<Record> = None;
    for id in ids.iter().rev() {
        let Some(record) = read(store, id).await? else { continue };
        if record.outcome != Outcome::Deployed {
            continue;
        }
        let Some(now) = &current else {
            let matches_to = to.is_some_and(|to| matches(&record, to));
            current = Some(record.clone());
            if !matches_to {
                continue;
            }
            // `--to` names the current deploy itself: restoring it repairs drift, which is allowed.
            return Ok((record.clone(), record));
        };
        let wanted = match to {
            Some(to) => matches(&record, to),
            None => record.commit != now.commit,
        };
        if wanted {
            return Ok((now.clone(), record));
        }
    }
    Err(match (current, to) {
        (None, _) => RollbackError::NoHistory,
        (Some(_), Some(to)) => RollbackError::NotFound(to.to_string()),
        (Some(current), None) => RollbackError::NothingBefore(current.commit),
    })
}

fn matches(record: &Record, to: &str) -> bool {
    record.id == to || (to.len() >= 4 && record.commit.starts_with(&to.to_ascii_lowercase()))
}

#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    #[error("the environment has no deploy history yet (no record under {HISTORY_PREFIX}): nothing to roll back to")]
    NoHistory,
    #[error(
        "no deployed record has the id or commit `{0}`: `dagship history` lists them (ids, and commits of at least 4 \
         characters)"
    )]
    NotFound(String),
    #[error("every deployed record is of the current commit {0}: there is no earlier deploy to roll back to")]
    NothingBefore(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where a deploy says, before its first object write, what it is about to leave under its mappings. Deleted
/// once its record and marker are written, so an intent that is still there belongs to a deploy that stopped
/// part-way: the objects it wrote are dagship's, not drift (src/deploy/drift.rs), until the next deploy finishes
/// and clears it.
pub const INTENT_PREFIX: &str = ".dagship/intents/";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Intent {
    /// The id its record will have.
    pub id: String,
    pub commit: String,
    /// The mapping prefixes the deploy mirrors: a key under them that it does not list, it deletes.
    pub prefixes: Vec<String>,
    /// Key -> content MD5 of every object the deploy leaves under `prefixes`.
    pub objects: BTreeMap<String, crate::hash::Md5>,
}

impl Intent {
    /// Whether this unfinished deploy would have left the object with this content (None: deleted it) there.
    pub fn explains(&self, key: &str, md5: Option<crate::hash::Md5>) -> bool {
        self.prefixes.iter().any(|prefix| key.starts_with(prefix.as_str()))
            && match md5 {
                Some(md5) => self.objects.get(key) == Some(&md5),
                None => !self.objects.contains_key(key),
            }
    }
}

/// Where the intent of the deploy recorded as `id` is kept.
pub fn intent_key(id: &str) -> String {
    format!("{INTENT_PREFIX}{id}{SUFFIX}")
}

pub async fn write_intent(store: &dyn Store, intent: &Intent) -> Result<(), StoreError> {
    let bytes = Bytes::from(serde_json::to_vec(intent).expect("intents serialize"));
    store.put(&PutRequest::bytes(&intent_key(&intent.id), bytes, PutMode::Overwrite)).await.map(|_| ())
}

/// The intents of deploys that stopped part-way (normally none), with their keys.
pub async fn intents(store: &dyn Store) -> Result<Vec<(String, Intent)>, StoreError> {
    intents_in(store, &store.list(INTENT_PREFIX).await?).await
}

/// The intents among listed objects (a listing of `.dagship/` or of the intents), read.
pub async fn intents_in(
    store: &dyn Store,
    objects: &[crate::store::ObjectMeta],
) -> Result<Vec<(String, Intent)>, StoreError> {
    let keys = objects.iter().map(|object| &object.key).filter(|key| key.starts_with(INTENT_PREFIX));
    let mut intents = Vec::new();
    for key in keys {
        // One that does not parse explains nothing; the next deploy removes it.
        if let Some(bytes) = store.get(key).await?
            && let Ok(intent) = serde_json::from_slice(&bytes)
        {
            intents.push((key.clone(), intent));
        }
    }
    Ok(intents)
}
