//! The DAG ids a change adds, removes, or keeps in a changed file, compared with the base commit: the changed
//! DAG files are imported at head (the DAG check) and their base versions at the base commit (staged from git,
//! with the DAGs and plugins folders and `dags_check.pythonpath`), both with the repository's Airflow.
use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::{DagsError, DagsReport, Duplicate, FileStatus};
use crate::config::Config;
use crate::detect::{FileChange, Status};

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DagDiff {
    /// Ids defined at head by a changed file and nowhere in the base versions of the changed files.
    pub added: Vec<DagAt>,
    /// Ids the base versions of the changed files defined and no changed file defines at head.
    pub removed: Vec<DagAt>,
    /// Ids defined before and after in a changed file (a rename or a move between files shows `previous_file`).
    pub changed: Vec<DagAt>,
    /// Base versions that did not import: their ids are unknown, so `removed` may miss some.
    pub unreadable_base_files: Vec<String>,
    /// Added ids that another file of the DAGs folder defines too (found by importing the whole folder at head,
    /// only when ids were added): Airflow would keep one and fail the other.
    pub collisions: Vec<Duplicate>,
    /// What `added` and `removed` were compared with.
    pub compared_with: ComparedWith,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DagAt {
    pub dag_id: String,
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_file: Option<String>,
}

/// Compares `head` (the DAG check of the changed files; None when only deletions) with the base versions of the changed DAG files.
pub fn diff(
    root: &Path,
    config: &Config,
    base: &str,
    changes: &[FileChange],
    head: Option<&DagsReport>,
) -> Result<DagDiff, DagsError> {
    let prefix = format!("{}/", config.dags_dir.trim_end_matches('/'));
    let at_base: Vec<String> = changes
        .iter()
        .filter(|change| change.status != Status::Added)
        .map(|change| change.old_path.clone().unwrap_or_else(|| change.path.clone()))
        .filter(|path| path.starts_with(&prefix) && path.ends_with(".py"))
        .collect();
    let mut diff = DagDiff::default();
    let mut before: BTreeMap<String, String> = BTreeMap::new();
    if !at_base.is_empty() {
        let report = super::check_at_commit(root, config, base, Some(&at_base))?;
        for file in &report.files {
            match file.status {
                FileStatus::Ok => {
                    before.extend(file.dag_ids.iter().map(|id| (id.clone(), file.path.clone())));
                }
                FileStatus::Error | FileStatus::Timeout => diff.unreadable_base_files.push(file.path.clone()),
                FileStatus::Skipped => {}
            }
        }
    }
    let after: BTreeMap<&str, &str> = head
        .iter()
        .flat_map(|report| &report.files)
        .filter(|file| file.status == FileStatus::Ok)
        .flat_map(|file| file.dag_ids.iter().map(|id| (id.as_str(), file.path.as_str())))
        .collect();
    for (dag_id, file) in &after {
        let entry = |previous_file| DagAt { dag_id: dag_id.to_string(), file: file.to_string(), previous_file };
        match before.get(*dag_id) {
            None => diff.added.push(entry(None)),
            Some(previous) => diff.changed.push(entry(Some(previous.clone()).filter(|previous| previous != file))),
        }
    }
    for (dag_id, file) in &before {
        if !after.contains_key(dag_id.as_str()) {
            diff.removed.push(DagAt { dag_id: dag_id.clone(), file: file.clone(), previous_file: None });
        }
    }
    if !diff.added.is_empty() {
        let whole = super::check(root, config, None)?;
        diff.collisions = whole
            .duplicates
            .into_iter()
            .filter(|duplicate| diff.added.iter().any(|added| added.dag_id == duplicate.dag_id))
            // Two changed files defining one id are already the DAG check's own duplicate.
            .filter(|duplicate| {
                head.is_none_or(|head| head.duplicates.iter().all(|known| known.dag_id != duplicate.dag_id))
            })
            .collect();
    }
    Ok(diff)
}

/// What the added and removed ids were compared with.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ComparedWith {
    /// The base commit's versions of the changed files.
    #[default]
    BaseCommit,
    /// The DAG ids the environment's last deploy record holds (src/deploy/ledger.rs).
    DeployRecord { id: String },
}

/// Re-bases `diff`'s added and removed ids on the environment: what a deploy of `head` (the changed files that
/// imported at head -> their ids) and the deletion of the `deleted` files would add to and remove from an environment whose
/// deployed files define `deployed` (file -> ids, from its last deploy record `record_id`). The environment's
/// files with the changed ones replaced are compared with the environment as it is; `changed` stays the base
/// commit's.
pub fn against_deployed(
    diff: &mut DagDiff,
    record_id: &str,
    deployed: &BTreeMap<String, Vec<String>>,
    head: &BTreeMap<String, Vec<String>>,
    deleted: &[String],
) {
    let mut after = deployed.clone();
    for file in deleted {
        after.remove(file);
    }
    after.extend(head.iter().map(|(file, ids)| (file.clone(), ids.clone())));
    let by_id = |map: &BTreeMap<String, Vec<String>>| -> BTreeMap<String, String> {
        map.iter().flat_map(|(file, ids)| ids.iter().map(move |id| (id.clone(), file.clone()))).collect()
    };
    let (before, after) = (by_id(deployed), by_id(&after));
    let only = |from: &BTreeMap<String, String>, not_in: &BTreeMap<String, String>| -> Vec<DagAt> {
        from.iter()
            .filter(|(id, _)| !not_in.contains_key(*id))
            .map(|(id, file)| DagAt { dag_id: id.clone(), file: file.clone(), previous_file: None })
            .collect()
    };
    diff.added = only(&after, &before);
    diff.removed = only(&before, &after);
    diff.compared_with = ComparedWith::DeployRecord { id: record_id.to_string() };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_compared_with_what_the_environment_runs_not_the_base_commit() {
        let deployed: BTreeMap<String, Vec<String>> = [
            ("dags/a.py".to_string(), vec!["a".to_string()]),
            ("dags/b.py".to_string(), vec!["b".to_string(), "b_old".to_string()]),
            ("dags/c.py".to_string(), vec!["c".to_string()]),
        ]
        .into();
        let head: BTreeMap<String, Vec<String>> =
            [("dags/b.py".to_string(), vec!["b".to_string(), "b_new".to_string()])].into();
        let mut diff = DagDiff::default();
        against_deployed(&mut diff, "2026-rec", &deployed, &head, &["dags/c.py".to_string()]);
        let ids = |dags: &[DagAt]| dags.iter().map(|dag| dag.dag_id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&diff.added), ["b_new"]);
        assert_eq!(ids(&diff.removed), ["b_old", "c"]);
        assert_eq!(diff.compared_with, ComparedWith::DeployRecord { id: "2026-rec".into() });
    }
}
