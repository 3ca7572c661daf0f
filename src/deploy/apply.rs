//! Applying a plan: uploads phase by phase (data, plugins, DAGs), then deletions (DAGs first), each phase
//! with bounded concurrency. Every upload is checksum-verified by the backend; the first failure stops the
//! deploy, and the next run's plan picks up whatever is left.
use std::collections::BTreeMap;
use std::time::Instant;

use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use super::DeployError;
use super::layout::Phase;
use super::marker::ObjectRecord;
use super::plan::{Change, Plan};
pub use crate::progress::human_bytes;
use crate::progress::{Transfer, count_bar};
use crate::store::{Body, PutMode, PutRequest, Store};

#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// `upload dags`, `delete dags`, ...
    pub step: String,
    pub objects: usize,
    pub bytes: u64,
    pub seconds: f64,
}

/// What the apply wrote: one report per step and the records of uploaded objects.
pub struct Applied {
    pub steps: Vec<StepReport>,
    pub written: BTreeMap<String, ObjectRecord>,
}

pub async fn apply(store: &dyn Store, plan: &Plan, concurrency: usize) -> Result<Applied, DeployError> {
    let mut applied = Applied { steps: Vec::new(), written: BTreeMap::new() };
    let mut phases: Vec<Phase> = plan.phases.iter().map(|phase| phase.phase).collect();
    phases.dedup();
    // A file that became a folder (or back) cannot coexist with its old self where keys are paths (file://):
    // the old key goes first. On S3 and GCS the order changes nothing a reader could notice.
    let blocking = blocking_deletions(plan);
    for key in &blocking {
        stop_if_cancelled()?;
        store.delete(key).await?;
    }
    for &phase in &phases {
        let changes: Vec<&Change> = plan
            .phases
            .iter()
            .filter(|p| p.phase == phase)
            .flat_map(|p| p.uploads.iter().chain(&p.replacements))
            .collect();
        if changes.is_empty() {
            continue;
        }
        let started = Instant::now();
        let bytes = changes.iter().map(|change| change.size).sum();
        let progress = Transfer::new(&format!("upload {}", phase.name()), changes.len(), bytes);
        let results: Vec<(String, ObjectRecord)> = futures::stream::iter(changes.iter().copied())
            .map(|change| upload(store, change, &progress))
            .buffer_unordered(concurrency)
            .try_collect()
            .await?;
        progress.finish();
        applied.steps.push(finish_step(format!("upload {}", phase.name()), changes.len(), bytes, started));
        applied.written.extend(results);
    }
    for &phase in phases.iter().rev() {
        let keys: Vec<&str> = plan
            .phases
            .iter()
            .filter(|p| p.phase == phase)
            .flat_map(|p| p.deletions.iter().map(|change| change.key.as_str()))
            .filter(|key| !blocking.contains(*key))
            .collect();
        if keys.is_empty() {
            continue;
        }
        let started = Instant::now();
        let progress = count_bar(&format!("delete {}", phase.name()), keys.len());
        futures::stream::iter(keys.iter().copied())
            .map(|key| {
                let progress = &progress;
                async move {
                    stop_if_cancelled()?;
                    store.delete(key).await?;
                    progress.inc(1);
                    Ok::<(), DeployError>(())
                }
            })
            .buffer_unordered(concurrency)
            .try_collect::<Vec<()>>()
            .await?;
        progress.finish_and_clear();
        applied.steps.push(finish_step(format!("delete {}", phase.name()), keys.len(), 0, started));
    }
    Ok(applied)
}

/// Every write starts here first: after SIGINT or SIGTERM none does.
pub fn stop_if_cancelled() -> Result<(), DeployError> {
    if crate::cancel::requested() { Err(DeployError::Cancelled) } else { Ok(()) }
}

/// Deletions whose key is a folder of an upload's key (`dags/a` before `dags/a/b.py`), or whose folder is an
/// upload's key (`dags/a/b.py` before `dags/a`).
fn blocking_deletions(plan: &Plan) -> std::collections::BTreeSet<String> {
    let uploads: std::collections::BTreeSet<&str> = plan
        .phases
        .iter()
        .flat_map(|phase| phase.uploads.iter().chain(&phase.replacements))
        .map(|change| change.key.as_str())
        .collect();
    let folders_of =
        |key: &str| -> Vec<String> { key.match_indices('/').map(|(index, _)| key[..index].to_string()).collect() };
    let upload_folders: std::collections::BTreeSet<String> = uploads.iter().flat_map(|key| folders_of(key)).collect();
    plan.phases
        .iter()
        .flat_map(|phase| &phase.deletions)
        .map(|change| change.key.as_str())
        .filter(|key| {
            upload_folders.contains(*key) || folders_of(key).iter().any(|folder| uploads.contains(folder.as_str()))
        })
        .map(str::to_string)
        .collect()
}

async fn upload(
    store: &dyn Store,
    change: &Change,
    progress: &Transfer,
) -> Result<(String, ObjectRecord), DeployError> {
    let (Some(path), Some(md5)) = (&change.local, change.md5) else {
        unreachable!("uploads always carry their local file and hash")
    };
    stop_if_cancelled()?;
    let request = PutRequest {
        key: change.key.clone(),
        body: Body::File(path.clone()),
        size: change.size,
        md5,
        mode: PutMode::Overwrite,
    };
    let stored = store.put(&request).await?;
    progress.file_done(change.size);
    Ok((
        change.key.clone(),
        ObjectRecord {
            md5,
            size: change.size,
            version: stored.version,
            version_id: stored.version_id,
            content: change.content,
        },
    ))
}

fn finish_step(step: String, objects: usize, bytes: u64, started: Instant) -> StepReport {
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("{step}: {}, {} in {seconds:.2}s", crate::plural::plural(objects, "object"), human_bytes(bytes));
    StepReport { step, objects, bytes, seconds: (seconds * 1000.0).round() / 1000.0 }
}
