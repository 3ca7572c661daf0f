//! Exposure files kept in the environment's bucket (written by dashboards and tools outside the repository),
//! pulled next to the project's own, never over them: they land in one folder dagship owns,
//! `<exposures_dir>/_dagship_bucket_exposures/`, which dbt reads like any folder under its model paths.
//!
//! - The repository wins: an exposure the repository defines (anywhere in the project) is dropped from the
//!   bucket's copy and reported as a conflict, so a pull request that edits or breaks its own exposure file is
//!   checked on its own file, and a committed exposure never vanishes from a deploy.
//! - Nothing lands outside the repository: the folder is resolved against the repository root (a symlinked
//!   `exposures_dir` pointing elsewhere is refused), emptied and re-made on each pull (never through a symlink),
//!   and files are written flat into it (`a/b.yml` becomes `a__b.yml`), so no key can name a sub-folder.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{DbtError, Settings};
use crate::store::Store;

/// The folder under `exposures_dir` holding the bucket's exposures.
pub const BUCKET_EXPOSURES_DIR: &str = "_dagship_bucket_exposures";
/// Marks the folder as dagship's, so an existing folder of that name that is not ours is never emptied.
const OWNER_FILE: &str = ".dagship-generated";

/// What a pull did.
#[derive(Debug, Default, Clone)]
pub struct ExposurePull {
    /// Files written into the bucket exposures folder.
    pub written: usize,
    /// One line per exposure (or file) left out, naming the bucket key and why.
    pub conflicts: Vec<String>,
}

/// Copies the exposure files (`*.yml`, `*.yaml`) under `dbt.exposures_prefix` into the bucket exposures folder.
/// An empty or missing prefix is fine.
pub async fn pull_exposures(store: &dyn Store, settings: &Settings) -> Result<ExposurePull, DbtError> {
    let Some(prefix) = &settings.dbt.exposures_prefix else { return Ok(ExposurePull::default()) };
    let prefix = format!("{}/", prefix.trim_end_matches('/'));
    let folder = prepare_folder(settings)?;
    let mut taken = repository_exposures(settings, &folder);
    let mut pull = ExposurePull::default();
    let mut objects = store.list(&prefix).await?;
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    for object in objects {
        let relative = &object.key[prefix.len()..];
        let is_yaml = relative.ends_with(".yml") || relative.ends_with(".yaml");
        if !is_yaml || relative.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
            continue;
        }
        let Some(bytes) = store.get(&object.key).await? else { continue };
        let Some(kept) = keep_new_exposures(&object.key, &bytes, &mut taken, &mut pull.conflicts) else { continue };
        let path = folder.join(relative.replace('/', "__"));
        write_new(&path, &kept)?;
        pull.written += 1;
    }
    Ok(pull)
}

/// The bucket folder, emptied: inside the repository, not a symlink, and ours.
fn prepare_folder(settings: &Settings) -> Result<PathBuf, DbtError> {
    let parent = settings.project_dir.join(&settings.dbt.exposures_dir);
    let folder = parent.join(BUCKET_EXPOSURES_DIR);
    let setup = |problem: String| DbtError::Setup(format!("{}: {problem}", folder.display()));
    match std::fs::symlink_metadata(&folder) {
        Ok(meta) if meta.file_type().is_symlink() || !meta.is_dir() => {
            return Err(setup("not a folder dagship made (a symlink or a file): remove it".into()));
        }
        Ok(_) if !folder.join(OWNER_FILE).is_file() => {
            return Err(setup(format!(
                "exists but was not made by dagship (no {OWNER_FILE}): rename it, dagship keeps the bucket's \
                 exposures there"
            )));
        }
        // remove_dir_all removes symlinks inside, never what they point to.
        Ok(_) => std::fs::remove_dir_all(&folder).map_err(|err| DbtError::io(&folder, err))?,
        Err(_) => {}
    }
    std::fs::create_dir_all(&parent).map_err(|err| DbtError::io(&parent, err))?;
    let root = settings.repo_root.canonicalize().map_err(|err| DbtError::io(&settings.repo_root, err))?;
    let real_parent = parent.canonicalize().map_err(|err| DbtError::io(&parent, err))?;
    if !real_parent.starts_with(&root) {
        return Err(DbtError::Setup(format!(
            "{}: `dbt.exposures_dir` resolves to {}, outside the repository (a symlink?): the bucket's exposures \
             are only written inside it",
            parent.display(),
            real_parent.display()
        )));
    }
    let folder = real_parent.join(BUCKET_EXPOSURES_DIR);
    std::fs::create_dir(&folder).map_err(|err| DbtError::io(&folder, err))?;
    write_new(&folder.join(OWNER_FILE), b"exposures pulled from the bucket by dagship; remade on every pull\n")?;
    Ok(folder)
}

/// Creates `path` (never following or replacing anything already there) with `bytes`.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), DbtError> {
    use std::io::Write;
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(|err| DbtError::io(path, err))?;
    file.write_all(bytes).map_err(|err| DbtError::io(path, err))
}

/// The names of the exposures the repository's own YAML files define, anywhere in the project but dbt's output
/// folders and the bucket folder.
fn repository_exposures(settings: &Settings, bucket_folder: &Path) -> BTreeSet<String> {
    let skip: Vec<PathBuf> =
        vec![settings.target_path.clone(), settings.packages_path.clone(), bucket_folder.to_path_buf()];
    let mut names = BTreeSet::new();
    let mut pending = vec![settings.project_dir.clone()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else { continue };
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if kind.is_dir() && !hidden && !skip.iter().any(|skipped| path == *skipped || bucket_folder == path) {
                if path.canonicalize().is_ok_and(|real| real != bucket_folder) {
                    pending.push(path);
                }
            } else if kind.is_file() && is_yaml(&path) {
                let Ok(text) = std::fs::read_to_string(&path) else { continue };
                if let Ok(value) = yaml_serde::from_str::<Value>(&text) {
                    names.extend(exposure_names(&value));
                }
            }
        }
    }
    names
}

fn is_yaml(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "yml" || ext == "yaml")
}

fn exposure_names(value: &Value) -> Vec<String> {
    value
        .get("exposures")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter().filter_map(|item| item.get("name").and_then(Value::as_str)).map(str::to_string).collect()
        })
        .unwrap_or_default()
}

/// The file's bytes without the exposures already `taken` (by the repository or an earlier bucket file), which
/// are reported; None when nothing is left to write (or the file is not YAML).
fn keep_new_exposures(
    key: &str,
    bytes: &[u8],
    taken: &mut BTreeSet<String>,
    conflicts: &mut Vec<String>,
) -> Option<Vec<u8>> {
    let parsed = std::str::from_utf8(bytes).ok().and_then(|text| yaml_serde::from_str::<Value>(text).ok());
    let Some(mut value) = parsed else {
        conflicts.push(format!("{key}: not readable YAML, left out"));
        return None;
    };
    let Some(list) = value.get_mut("exposures").and_then(Value::as_array_mut) else { return Some(bytes.to_vec()) };
    let before = list.len();
    list.retain(|item| {
        let Some(name) = item.get("name").and_then(Value::as_str) else { return true };
        if taken.insert(name.to_string()) {
            true
        } else {
            conflicts.push(format!("{key}: exposure `{name}` is already defined (the repository's copy is used)"));
            false
        }
    });
    match list.len() {
        0 => None,
        kept if kept == before => Some(bytes.to_vec()),
        // JSON is YAML: dbt reads the filtered file as it would the original.
        _ => Some(serde_json::to_vec_pretty(&value).expect("JSON values serialize")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exposure_the_repository_defines_is_left_out_and_reported() {
        let mut taken: BTreeSet<String> = ["revenue".to_string()].into();
        let mut conflicts = Vec::new();
        let file = b"version: 2\nexposures:\n  - name: revenue\n  - name: churn\n";
        let kept = keep_new_exposures("data/exposures/d.yml", file, &mut taken, &mut conflicts).unwrap();
        let value: Value = serde_json::from_slice(&kept).unwrap();
        assert_eq!(exposure_names(&value), ["churn"]);
        assert_eq!(conflicts.len(), 1);
        assert!(conflicts[0].contains("`revenue`"), "{conflicts:?}");
        // A second file defining churn again is dropped whole.
        let again = b"exposures:\n  - name: churn\n";
        assert!(keep_new_exposures("data/exposures/e.yml", again, &mut taken, &mut conflicts).is_none());
    }
}
