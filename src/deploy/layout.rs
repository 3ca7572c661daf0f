//! Which local folder goes to which bucket prefix, and in which phase.
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{Config, Platform};

/// Deploy phases in the order they run: what DAGs import lands before the DAGs. Deletions run after all
/// uploads, in the reverse order (DAGs first), so a DAG never outlives... nor precedes what it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Data,
    /// dbt's state (manifest, packages, parse cache): DAGs that read the manifest find the new one.
    DbtState,
    Plugins,
    Dags,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Data => "data",
            Phase::DbtState => "dbt_state",
            Phase::Plugins => "plugins",
            Phase::Dags => "dags",
        }
    }
}

/// One local folder mirrored to one prefix under the environment's bucket URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mapping {
    pub phase: Phase,
    /// The folder, relative to the repository root (for staged folders, a description of what they hold).
    pub source: String,
    /// The bucket prefix, relative to the environment's URL; never empty, ends with `/`.
    pub prefix: String,
    /// A folder dagship staged outside the repository (dbt artifacts), read instead of `source`. The user's
    /// exclude file does not apply to it: it describes repository paths.
    #[serde(skip)]
    pub staged: Option<PathBuf>,
}

/// The mappings the config asks for, in phase order. `dbt_state` is the staged dbt artifacts folder, when this
/// deploy publishes them. MWAA reads plugins only from its `plugins.zip` (the `platform::mwaa` step uploads it),
/// so on MWAA the plugins folder is not mirrored.
pub fn mappings(config: &Config, platform: Platform, dbt_state: Option<&Path>) -> Vec<Mapping> {
    let folder = |phase, source: &str, prefix: &str| Mapping {
        phase,
        source: clean(source),
        prefix: prefix.into(),
        staged: None,
    };
    let mut mappings = Vec::new();
    if let Some(data_dir) = &config.data_dir {
        mappings.push(folder(Phase::Data, data_dir, "data/"));
    }
    if let (Some(dbt), Some(staged)) = (&config.dbt, dbt_state) {
        mappings.push(Mapping {
            phase: Phase::DbtState,
            source: format!("{}/target", clean(&dbt.project_dir)),
            prefix: dbt_state_prefix(config).expect("dbt is configured"),
            staged: Some(staged.to_path_buf()),
        });
    }
    if let Some(plugins_dir) = config.plugins_dir.as_ref().filter(|_| platform != Platform::Mwaa) {
        mappings.push(folder(Phase::Plugins, plugins_dir, "plugins/"));
    }
    mappings.push(folder(Phase::Dags, &config.dags_dir, "dags/"));
    mappings
}

/// The bucket prefix of the dbt state, with a trailing `/`, when dbt is configured.
pub fn dbt_state_prefix(config: &Config) -> Option<String> {
    config.dbt.as_ref().map(|dbt| format!("{}/", dbt.state_prefix.trim_matches('/')))
}

/// Every prefix a mapping owns or dagship reads: the dbt state prefix even when this deploy does not publish it
/// (a data mirror must never delete the state below it just because this run skipped dbt) and the exposures
/// prefix (read before dbt runs, written by the tools that own the dashboards).
pub fn owned_prefixes(config: &Config, mappings: &[Mapping]) -> Vec<String> {
    let mut prefixes: Vec<String> = mappings.iter().map(|mapping| mapping.prefix.clone()).collect();
    prefixes.extend(dbt_state_prefix(config));
    prefixes.extend(
        config
            .dbt
            .as_ref()
            .and_then(|dbt| dbt.exposures_prefix.as_ref())
            .map(|prefix| format!("{}/", prefix.trim_matches('/'))),
    );
    prefixes.sort();
    prefixes.dedup();
    prefixes
}

fn clean(dir: &str) -> String {
    dir.trim_end_matches('/').to_string()
}

/// Whether `key` belongs to another mapping nested inside `mapping` (a deeper prefix): such keys are that
/// mapping's to mirror, never this one's to delete.
pub fn owned_by_deeper(owned_prefixes: &[String], mapping: &Mapping, key: &str) -> bool {
    owned_prefixes.iter().any(|other| {
        other.len() > mapping.prefix.len() && other.starts_with(&mapping.prefix) && key.starts_with(other.as_str())
    })
}
