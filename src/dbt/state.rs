//! An environment's dbt state in its bucket: fetching manifest.json, run_results.json and the parse cache for a
//! pull request check, and pulling exposure files into the project.
use std::path::{Path, PathBuf};

use serde::Serialize;
use tempfile::TempDir;

use super::{DbtError, Settings};
use crate::store::{ObjectMeta, Store};

/// The folder under the state prefix that holds the parse cache for pull request checks.
pub const PARSE_CACHE_DIR: &str = "parse-cache";
pub const PARSE_CACHE_FILE: &str = "partial_parse.msgpack";
pub const PARSE_CACHE_META: &str = "meta.json";

/// Which state a check compiled against: the object and its version (S3 ETag, GCS generation), so a reviewer
/// can tell exactly which deploy the comparison used.
#[derive(Debug, Clone, Serialize)]
pub struct StateSource {
    pub environment: String,
    /// The manifest's URL.
    pub manifest: String,
    pub found: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub run_results: bool,
}

/// What a deploy records next to the parse cache, for people: the settings it was parsed with. Checks need not
/// read it: dbt itself decides whether the cache fits and says why not.
#[derive(Debug, Clone, Serialize)]
pub struct ParseCacheMeta {
    pub dbt_version: Option<String>,
    pub target: String,
    pub vars: serde_json::Value,
}

/// The state fetched into a temporary folder (deleted on drop).
pub struct Downloaded {
    pub dir: TempDir,
    pub source: StateSource,
    /// The parse cache file, when the bucket had one.
    pub parse_cache: Option<PathBuf>,
}

impl Downloaded {
    /// The folder to pass as `--state`, when a manifest was found.
    pub fn state_dir(&self) -> Option<&Path> {
        self.source.found.then(|| self.dir.path())
    }
}

pub async fn download(store: &dyn Store, settings: &Settings, with_parse_cache: bool) -> Result<Downloaded, DbtError> {
    let dir = tempfile::Builder::new()
        .prefix("dagship-dbt-state-")
        .tempdir()
        .map_err(|err| DbtError::io(&std::env::temp_dir(), err))?;
    let prefix = settings.state_prefix();
    let manifest_key = format!("{prefix}manifest.json");
    let cache_key = format!("{prefix}{PARSE_CACHE_DIR}/{PARSE_CACHE_FILE}");
    let path = |name: &str| dir.path().join(name);
    let (manifest, run_results, cache) = futures::try_join!(
        fetch(store, manifest_key.clone(), path("manifest.json"), true),
        fetch(store, format!("{prefix}run_results.json"), path("run_results.json"), true),
        fetch(store, cache_key, path(PARSE_CACHE_FILE), with_parse_cache),
    )?;
    let source = StateSource {
        environment: settings.environment.clone(),
        manifest: store.url().join(&manifest_key),
        found: manifest.is_some(),
        version: manifest.map(|object| object.version),
        run_results: run_results.is_some(),
    };
    let parse_cache = cache.map(|_| dir.path().join(PARSE_CACHE_FILE));
    Ok(Downloaded { dir, source, parse_cache })
}

/// Fetches one object to `path` when `wanted`; `None` when not wanted or the bucket has no such object.
async fn fetch(store: &dyn Store, key: String, path: PathBuf, wanted: bool) -> Result<Option<ObjectMeta>, DbtError> {
    if !wanted {
        return Ok(None);
    }
    // The listing gives the version the check reports; the exact key is the only object under this prefix
    // unless another name starts with it, which the filter drops.
    let listed = store.list(&key).await?.into_iter().find(|object| object.key == key);
    let Some(meta) = listed else { return Ok(None) };
    let Some(bytes) = store.get(&key).await? else { return Ok(None) };
    tokio::fs::write(&path, &bytes).await.map_err(|err| DbtError::io(&path, err))?;
    Ok(Some(meta))
}

/// Copies the exposure files (`*.yml`, `*.yaml`) under `dbt.exposures_prefix` into `dbt.exposures_dir`,
/// keeping their sub-folders. An empty or missing prefix is fine. Returns how many files were written.
pub async fn pull_exposures(store: &dyn Store, settings: &Settings) -> Result<usize, DbtError> {
    let Some(prefix) = &settings.dbt.exposures_prefix else { return Ok(0) };
    let prefix = format!("{}/", prefix.trim_end_matches('/'));
    let target = settings.project_dir.join(&settings.dbt.exposures_dir);
    let mut written = 0;
    for object in store.list(&prefix).await? {
        let relative = &object.key[prefix.len()..];
        let is_yaml = relative.ends_with(".yml") || relative.ends_with(".yaml");
        // A key is a path below the exposures folder, never one climbing out of it.
        if !is_yaml || relative.split('/').any(|part| part.is_empty() || part == "..") {
            continue;
        }
        let Some(bytes) = store.get(&object.key).await? else { continue };
        let path = target.join(relative);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(|err| DbtError::io(parent, err))?;
        }
        tokio::fs::write(&path, &bytes).await.map_err(|err| DbtError::io(&path, err))?;
        written += 1;
    }
    Ok(written)
}
