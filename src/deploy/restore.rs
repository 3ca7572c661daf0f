//! A ledger record's object set staged from the bucket's kept object versions, for a rollback to a commit the
//! repository no longer has (history rewritten, a shallow clone that cannot be deepened). Every version is read
//! and its MD5 checked against the record before anything is written; the staged folder then goes through the
//! same plan, guards, lock, marker and ledger as any deploy.
use std::path::Path;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};

use super::commit_source::{StagedSource, normalize};
use super::exclude::Excludes;
use super::{DeployError, layout, ledger};
use crate::config::{Config, Environment};
use crate::hash::Md5;
use crate::store::Store;

/// Whether every object of `record` that today's mappings hold has a kept version to restore from.
pub fn restorable(record: &ledger::Record) -> bool {
    !record.objects.is_empty() && record.objects.values().all(|object| object.version_id.is_some())
}

/// Stages `record`'s objects under today's mappings from their kept versions. Refuses (nothing written) when a
/// version is gone or its bytes are not what the record says. Keys under no mapping of today's config (the dbt
/// state, a mapping removed since) are left out, as a rollback from git leaves them.
pub async fn stage_versions(
    store: &dyn Store,
    repo_root: &Path,
    config: &Config,
    environment: &Environment,
    record: &ledger::Record,
    concurrency: usize,
) -> Result<StagedSource, DeployError> {
    let mappings = layout::mappings(config, environment.platform, None);
    let dir = tempfile::tempdir()
        .map_err(|err| DeployError::Input(format!("cannot create a folder to stage the restore in: {err}")))?;
    let mut wanted = Vec::new();
    for (key, object) in &record.objects {
        let Some(mapping) = mappings
            .iter()
            .filter(|mapping| key.starts_with(&mapping.prefix))
            .max_by_key(|mapping| mapping.prefix.len())
        else {
            continue;
        };
        let relative = &key[mapping.prefix.len()..];
        let folder = normalize(&mapping.source);
        let path = if folder.is_empty() { relative.to_string() } else { format!("{folder}/{relative}") };
        let version_id = object.version_id.clone().ok_or_else(|| {
            DeployError::Input(format!("deploy {} recorded no object version for `{key}`", record.id))
        })?;
        wanted.push((key.clone(), version_id, object.md5, dir.path().join(path)));
    }
    let problems: Vec<Option<String>> = futures::stream::iter(wanted)
        .map(|(key, version_id, md5, path)| async move {
            let problem = match store.get_version(&key, &version_id).await? {
                None => Some(format!("`{key}` version {version_id} is gone from the bucket")),
                Some(bytes) if Md5::of_bytes(&bytes) != md5 => Some(format!(
                    "`{key}` version {version_id} has MD5 {}, not the {md5} deploy {} recorded",
                    Md5::of_bytes(&bytes),
                    record.id
                )),
                Some(bytes) => {
                    write_file(&path, &bytes)?;
                    None
                }
            };
            Ok::<_, DeployError>(problem)
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    let problems: Vec<String> = problems.into_iter().flatten().collect();
    if !problems.is_empty() {
        let count = crate::plural::plural(problems.len(), "object");
        let mut reasons = vec![format!(
            "cannot restore deploy {} (commit {}) from the bucket's object versions: {count} cannot be \
             read back as recorded, so nothing was written. Fetch the commit (`git fetch origin {}`) and run the \
             rollback again, or roll back to another deploy",
            record.id, record.commit, record.commit
        )];
        reasons.extend(problems.into_iter().take(20));
        return Err(DeployError::Refused(reasons));
    }
    // The work tree's exclude file (the commit's is gone): what it names in the bucket is left alone.
    let exclude_from = config.deploy.exclude_from.as_deref().filter(|file| repo_root.join(file).is_file());
    let excludes = Arc::new(Excludes::load(repo_root, exclude_from, &[])?);
    Ok(StagedSource::from_dir(record.commit.clone(), dir, excludes))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), DeployError> {
    let failed = |err: std::io::Error| DeployError::Input(format!("cannot stage {}: {err}", path.display()));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(failed)?;
    }
    std::fs::write(path, bytes).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use crate::store::{PutMode, PutRequest};

    fn config() -> Config {
        yaml_serde::from_str(
            "dags_dir: dags\nenvironments:\n  prod:\n    platform: composer\n    bucket: gs://b\n    branches: [main]\n",
        )
        .unwrap()
    }

    async fn record_of(store: &MemoryStore, files: &[(&str, &str)]) -> ledger::Record {
        let mut objects = std::collections::BTreeMap::new();
        for (key, content) in files {
            let request = PutRequest::bytes(key, bytes::Bytes::from(content.to_string()), PutMode::Overwrite);
            let meta = store.put(&request).await.unwrap();
            objects.insert(
                key.to_string(),
                super::super::ObjectRecord {
                    md5: request.md5,
                    size: request.size,
                    version: meta.version,
                    version_id: meta.version_id,
                    content: None,
                },
            );
        }
        let json = serde_json::json!({
            "id": "r1", "kind": "deploy", "outcome": "deployed", "environment": "prod", "time": "t",
            "commit": "c0ffee", "summary": {"uploads": 0, "replacements": 0, "deletions": 0, "unchanged": 0,
            "upload_bytes": 0}, "duration_seconds": 0.0, "tool_version": "0",
        });
        let mut record: ledger::Record = serde_json::from_value(json).unwrap();
        record.objects = objects;
        record
    }

    #[tokio::test]
    async fn stages_each_recorded_version_under_its_folder_even_after_it_was_overwritten() {
        let store = MemoryStore::new(false);
        let record = record_of(&store, &[("dags/a.py", "A1"), ("dags/sub/b.py", "B1")]).await;
        store.seed("dags/a.py", b"A2");
        let config = config();
        let environment = config.environments.get("prod").unwrap();
        let root = tempfile::tempdir().unwrap();
        let staged = stage_versions(&store, root.path(), &config, environment, &record, 4).await.unwrap();
        assert_eq!(std::fs::read_to_string(staged.root().join("dags/a.py")).unwrap(), "A1");
        assert_eq!(std::fs::read_to_string(staged.root().join("dags/sub/b.py")).unwrap(), "B1");
        assert_eq!(staged.commit, "c0ffee");
    }

    #[tokio::test]
    async fn refuses_a_version_whose_bytes_differ_from_the_record() {
        let store = MemoryStore::new(false);
        let record = record_of(&store, &[("dags/a.py", "A1")]).await;
        let version = record.objects["dags/a.py"].version_id.clone().unwrap();
        store.tamper_version("dags/a.py", &version, b"evil");
        let config = config();
        let environment = config.environments.get("prod").unwrap();
        let root = tempfile::tempdir().unwrap();
        let err = stage_versions(&store, root.path(), &config, environment, &record, 4).await.err().unwrap();
        assert!(matches!(&err, DeployError::Refused(reasons) if reasons[1].contains("has MD5")), "{err}");
        assert!(store.journal().iter().all(|write| write.starts_with("PUT dags/a.py")), "no write after the setup");
    }
}
