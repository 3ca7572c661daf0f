//! Which local folder goes to which bucket prefix, and in which phase.
use serde::Serialize;

use crate::config::Config;

/// Deploy phases in the order they run: what DAGs import lands before the DAGs. Deletions run after all
/// uploads, in the reverse order (DAGs first), so a DAG never outlives... nor precedes what it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Data,
    Plugins,
    Dags,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Data => "data",
            Phase::Plugins => "plugins",
            Phase::Dags => "dags",
        }
    }
}

/// One local folder mirrored to one prefix under the environment's bucket URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mapping {
    pub phase: Phase,
    /// The folder, relative to the repository root.
    pub source: String,
    /// The bucket prefix, relative to the environment's URL; never empty, ends with `/`.
    pub prefix: String,
}

/// The mappings the config asks for, in phase order.
pub fn mappings(config: &Config) -> Vec<Mapping> {
    let mut mappings = Vec::new();
    if let Some(data_dir) = &config.data_dir {
        mappings.push(Mapping { phase: Phase::Data, source: clean(data_dir), prefix: "data/".into() });
    }
    if let Some(plugins_dir) = &config.plugins_dir {
        mappings.push(Mapping { phase: Phase::Plugins, source: clean(plugins_dir), prefix: "plugins/".into() });
    }
    mappings.push(Mapping { phase: Phase::Dags, source: clean(&config.dags_dir), prefix: "dags/".into() });
    mappings
}

fn clean(dir: &str) -> String {
    dir.trim_end_matches('/').to_string()
}

/// Whether `key` belongs to another mapping nested inside `mapping` (a deeper prefix): such keys are that
/// mapping's to mirror, never this one's to delete.
pub fn owned_by_deeper(mappings: &[Mapping], mapping: &Mapping, key: &str) -> bool {
    mappings.iter().any(|other| {
        other.prefix.len() > mapping.prefix.len()
            && other.prefix.starts_with(&mapping.prefix)
            && key.starts_with(&other.prefix)
    })
}
