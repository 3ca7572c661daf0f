//! The parts of dbt's artifacts dagship reads: the models of a manifest and the nodes a run_results.json
//! covers. Unknown fields are skipped, so manifests of every dbt 1.x schema version load.
use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::DbtError;

#[derive(Debug, Default, Deserialize)]
pub struct Manifest {
    #[serde(default)]
    pub nodes: BTreeMap<String, Node>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Node {
    pub resource_type: String,
    pub name: String,
    #[serde(default)]
    pub original_file_path: String,
    #[serde(default)]
    pub package_name: String,
    /// The node's place in the project (`[package, folders..., name]`), for dbt's fqn selector.
    #[serde(default)]
    pub fqn: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub depends_on: DependsOn,
    /// Only the string-valued configs are kept (`materialized`, `schema`, ...), for `config.KEY:VALUE` selectors.
    #[serde(default, deserialize_with = "string_configs")]
    pub config: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DependsOn {
    #[serde(default)]
    pub nodes: Vec<String>,
}

fn string_configs<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw: Option<BTreeMap<String, serde_json::Value>> = Deserialize::deserialize(deserializer)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(key, value)| value.as_str().map(|value| (key, value.to_string())))
        .collect())
}

impl Manifest {
    pub fn read(path: &Path) -> Result<Manifest, DbtError> {
        read_json(path)
    }

    /// The models, by unique id.
    pub fn models(&self) -> impl Iterator<Item = (&String, &Node)> {
        self.nodes.iter().filter(|(_, node)| node.resource_type == "model")
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct RunResults {
    #[serde(default)]
    pub results: Vec<RunResult>,
}

#[derive(Debug, Deserialize)]
pub struct RunResult {
    pub unique_id: String,
    #[serde(default)]
    pub status: String,
}

impl RunResults {
    pub fn read(path: &Path) -> Result<RunResults, DbtError> {
        read_json(path)
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, DbtError> {
    // Reading the whole file first is several times faster than serde_json's reader on 50 MB manifests.
    let bytes = std::fs::read(path).map_err(|err| DbtError::Artifact(format!("{}: {err}", path.display())))?;
    serde_json::from_slice(&bytes)
        .map_err(|err| DbtError::Artifact(format!("{}: not a dbt artifact dagship can read: {err}", path.display())))
}
