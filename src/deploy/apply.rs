//! Applying a plan: uploads phase by phase (data, plugins, DAGs), then deletions (DAGs first), each phase
//! with bounded concurrency. Every upload is checksum-verified by the backend; the first failure stops the
//! deploy, and the next run's plan picks up whatever is left.
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Instant;

use futures::{StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::DeployError;
use super::layout::Phase;
use super::marker::ObjectRecord;
use super::plan::{Change, Plan};
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
        let progress = progress_bar(&format!("upload {}", phase.name()), changes.len());
        let results: Vec<(String, ObjectRecord)> = futures::stream::iter(changes.iter().copied())
            .map(|change| upload(store, change, &progress))
            .buffer_unordered(concurrency)
            .try_collect()
            .await?;
        progress.finish_and_clear();
        let bytes = changes.iter().map(|change| change.size).sum();
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
        let progress = progress_bar(&format!("delete {}", phase.name()), keys.len());
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
    progress: &ProgressBar,
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
    progress.inc(1);
    Ok((change.key.clone(), ObjectRecord { md5, size: change.size, version: stored.version, content: change.content }))
}

/// A bar on a terminal; in CI logs nothing until the step's one summary line.
fn progress_bar(step: &str, total: usize) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>14} [{bar:30}] {pos}/{len} {per_sec}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(step.to_string());
    bar
}

fn finish_step(step: String, objects: usize, bytes: u64, started: Instant) -> StepReport {
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("{step}: {objects} object(s), {} in {seconds:.2}s", human_bytes(bytes));
    StepReport { step, objects, bytes, seconds: (seconds * 1000.0).round() / 1000.0 }
}

pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}
