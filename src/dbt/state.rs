//! An environment's dbt state in its bucket: fetching manifest.json, run_results.json and the parse cache for a
//! pull request check (exposure files: exposures.rs).
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
    /// A usable manifest was found (false for a missing or an unusable one).
    pub found: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Why the bucket's manifest cannot be used (truncated, not JSON, a newer schema than dbt reads): the
    /// check compiles the whole project instead, with a warning, rather than failing every pull request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unusable: Option<String>,
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
    let unusable = manifest.as_ref().and_then(|_| manifest_problem(&path("manifest.json")));
    let source = StateSource {
        environment: settings.environment.clone(),
        manifest: store.url().join(&manifest_key),
        found: manifest.is_some() && unusable.is_none(),
        version: manifest.map(|object| object.version),
        run_results: run_results.is_some(),
        unusable,
    };
    let parse_cache = cache.map(|_| dir.path().join(PARSE_CACHE_FILE));
    Ok(Downloaded { dir, source, parse_cache })
}

/// The newest manifest schema the supported dbt versions (1.8 to 1.11) read: manifest v12.
const NEWEST_MANIFEST_SCHEMA: u32 = 12;

/// Why a downloaded manifest cannot serve as `--state`, if it cannot: dbt fails the whole check on it.
fn manifest_problem(path: &Path) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Head {
        metadata: Option<Metadata>,
    }
    #[derive(serde::Deserialize)]
    struct Metadata {
        dbt_schema_version: Option<String>,
    }
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(err) => return Some(format!("cannot read it: {err}")),
    };
    // Every byte is parsed (a truncated file fails), but only the schema version is kept.
    let head: Head = match serde_json::from_reader(std::io::BufReader::new(file)) {
        Ok(head) => head,
        Err(err) => return Some(format!("not a complete JSON manifest ({err})")),
    };
    let schema = head.metadata.and_then(|metadata| metadata.dbt_schema_version)?;
    let version = schema.rsplit_once("/v").and_then(|(_, tail)| tail.strip_suffix(".json"))?.parse::<u32>().ok()?;
    (version > NEWEST_MANIFEST_SCHEMA).then(|| {
        format!(
            "written by a newer dbt (manifest schema v{version}; this dagship reads up to v{NEWEST_MANIFEST_SCHEMA})"
        )
    })
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
