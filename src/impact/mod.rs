//! From changed models to the DAGs that run them: the dbt check's modified and downstream models, the DAG
//! check's dbt tasks (src/dags/dbt_tasks.rs) and the manifest's graph, resolved with dbt's selection semantics
//! (selector.rs). A task whose selection cannot be known before it runs is reported as unresolved, never guessed.
mod selector;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

pub use selector::Graph;

use crate::dags::{DagFile, DbtInvocation, DbtRun, FileStatus};
use crate::dbt::{Manifest, SelectedModel};

/// What the pull request's model changes reach: the `impact` of a report.
#[derive(Debug, Clone, Serialize)]
pub struct Impact {
    /// Models whose files or configs changed, by name.
    pub modified: Vec<String>,
    /// Their unchanged children, by name.
    pub downstream: Vec<String>,
    pub deleted: Vec<String>,
    /// Parents of the modified and downstream models that are not selected themselves (models, seeds,
    /// snapshots), by name: a slim check builds against the environment's versions of them (`--defer`).
    pub deferred: Vec<String>,
    /// `[parent, child]` edges into the modified and downstream models, from each other and from the deferred
    /// parents, by name.
    pub lineage: Vec<(String, String)>,
    /// DAGs with a task running a modified or downstream model.
    pub dags: Vec<ImpactedDag>,
    /// DAGs with a dbt task whose selection cannot be resolved before it runs.
    pub unresolved: Vec<UnresolvedDag>,
    /// DAGs that run dbt at all (impacted or not).
    pub dbt_dags: usize,
    /// DAG files that failed to import: what their DAGs run is unknown.
    pub unimported_files: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImpactedDag {
    pub dag_id: String,
    pub file: String,
    pub schedule: Option<String>,
    pub tasks: Vec<ImpactedTask>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImpactedTask {
    /// None for a whole cosmos DbtDag.
    pub task_id: Option<String>,
    pub operator: String,
    /// The dbt commands as written, like `build --select stg_orders+`.
    pub commands: Vec<String>,
    /// The modified models it runs, by name.
    pub modified: Vec<String>,
    /// The downstream models it runs, by name.
    pub downstream: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnresolvedDag {
    pub dag_id: String,
    pub file: String,
    pub schedule: Option<String>,
    pub tasks: Vec<UnresolvedTask>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnresolvedTask {
    pub task_id: Option<String>,
    pub operator: String,
    pub reason: String,
}

impl Impact {
    /// The impacted DAG ids, sorted (the `impacted_dags` output).
    pub fn dag_ids(&self) -> Vec<&str> {
        self.dags.iter().map(|dag| dag.dag_id.as_str()).collect()
    }
}

/// Resolves every dbt task of `dags` against `manifest` (the pull request's) and keeps the ones that run a
/// modified or downstream model.
pub fn compute(
    manifest: &Manifest,
    modified: &[SelectedModel],
    downstream: &[SelectedModel],
    deleted: &[String],
    files: &[DagFile],
) -> Impact {
    let graph = Graph::new(manifest);
    let names: BTreeMap<&str, &str> =
        modified.iter().chain(downstream).map(|model| (model.unique_id.as_str(), model.name.as_str())).collect();
    let modified_ids: BTreeSet<&str> = modified.iter().map(|model| model.unique_id.as_str()).collect();
    let (lineage, deferred) = lineage(manifest, &names);
    let mut impact = Impact {
        modified: modified.iter().map(|model| model.name.clone()).collect(),
        downstream: downstream.iter().map(|model| model.name.clone()).collect(),
        deleted: deleted.to_vec(),
        deferred,
        lineage,
        dags: Vec::new(),
        unresolved: Vec::new(),
        dbt_dags: 0,
        unimported_files: files
            .iter()
            .filter(|file| matches!(file.status, FileStatus::Error | FileStatus::Timeout))
            .map(|file| file.path.clone())
            .collect(),
    };
    for file in files {
        for dag in &file.dags {
            if dag.dbt_tasks.is_empty() {
                continue;
            }
            impact.dbt_dags += 1;
            let mut impacted = Vec::new();
            let mut unresolved = Vec::new();
            for task in &dag.dbt_tasks {
                let unresolved_task = |reason: String| UnresolvedTask {
                    task_id: task.task_id.clone(),
                    operator: task.operator.clone(),
                    reason,
                };
                let invocations = match &task.run {
                    DbtRun::Unresolved { reason } => {
                        unresolved.push(unresolved_task(reason.clone()));
                        continue;
                    }
                    DbtRun::Static { invocations } => invocations,
                };
                match runs(&graph, invocations) {
                    Err(reason) => unresolved.push(unresolved_task(reason)),
                    Ok(ids) => {
                        let hit: Vec<&str> =
                            ids.iter().map(String::as_str).filter(|id| names.contains_key(id)).collect();
                        if hit.is_empty() {
                            continue;
                        }
                        let pick = |modified: bool| -> Vec<String> {
                            let mut picked: Vec<String> = hit
                                .iter()
                                .filter(|id| modified_ids.contains(*id) == modified)
                                .map(|id| names[id].to_string())
                                .collect();
                            picked.sort();
                            picked
                        };
                        impacted.push(ImpactedTask {
                            task_id: task.task_id.clone(),
                            operator: task.operator.clone(),
                            commands: invocations.iter().map(describe).collect(),
                            modified: pick(true),
                            downstream: pick(false),
                        });
                    }
                }
            }
            if !impacted.is_empty() {
                impact.dags.push(ImpactedDag {
                    dag_id: dag.dag_id.clone(),
                    file: file.path.clone(),
                    schedule: dag.schedule.clone(),
                    tasks: impacted,
                });
            }
            if !unresolved.is_empty() {
                impact.unresolved.push(UnresolvedDag {
                    dag_id: dag.dag_id.clone(),
                    file: file.path.clone(),
                    schedule: dag.schedule.clone(),
                    tasks: unresolved,
                });
            }
        }
    }
    impact.dags.sort_by(|a, b| a.dag_id.cmp(&b.dag_id));
    impact.unresolved.sort_by(|a, b| a.dag_id.cmp(&b.dag_id));
    impact
}

/// The models a task's dbt commands run, together.
fn runs(graph: &Graph, invocations: &[DbtInvocation]) -> Result<BTreeSet<String>, String> {
    let mut all = BTreeSet::new();
    for invocation in invocations {
        all.extend(graph.select_models(&invocation.select, &invocation.exclude)?);
    }
    Ok(all)
}

/// `build --select a b --exclude c`, as a reviewer reads it.
fn describe(invocation: &DbtInvocation) -> String {
    let mut text = invocation.command.clone();
    if !invocation.select.is_empty() {
        text.push_str(&format!(" --select {}", invocation.select.join(" ")));
    }
    if !invocation.exclude.is_empty() {
        text.push_str(&format!(" --exclude {}", invocation.exclude.join(" ")));
    }
    text
}

/// Parent -> child edges into the named (selected) models, and the parents outside the selection that the
/// environment provides (sorted names).
fn lineage(manifest: &Manifest, names: &BTreeMap<&str, &str>) -> (Vec<(String, String)>, Vec<String>) {
    let mut edges: Vec<(String, String)> = Vec::new();
    let mut deferred: BTreeSet<String> = BTreeSet::new();
    for (id, child) in names {
        let Some(node) = manifest.nodes.get(*id) else { continue };
        for parent in &node.depends_on.nodes {
            let parent_name = match names.get(parent.as_str()) {
                Some(name) => name.to_string(),
                None => match manifest.nodes.get(parent) {
                    // Sources and other resources are tables, not something a deploy builds: not deferred.
                    Some(node) if DEFERRABLE.contains(&node.resource_type.as_str()) => {
                        deferred.insert(node.name.clone());
                        node.name.clone()
                    }
                    _ => continue,
                },
            };
            edges.push((parent_name, child.to_string()));
        }
    }
    edges.sort();
    edges.dedup();
    (edges, deferred.into_iter().collect())
}

/// The resource types a slim build takes from the environment when they are not selected.
const DEFERRABLE: &[&str] = &["model", "seed", "snapshot"];
