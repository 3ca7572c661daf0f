//! The history stages: the ledger read back, a rollback run through the same `deploy_one` as a deploy, drift,
//! and every environment's status. `dagship history|rollback|drift|status` and `ci`'s `rollback-to` call these.
use std::collections::{BTreeMap, BTreeSet};

use super::deploy::{DeployRequest, deploy_staged};
use super::{engine_request, runtime};
use crate::deploy::{self, DeployError, DeployReport, Drift, OlderCommit, ledger};
use crate::error::Result;
use crate::github::edges::Edges;
use crate::hash::Md5;
use crate::notice::{Level, announce};
use crate::report::EnvironmentStatus;
use crate::workspace::Workspace;

/// A rollback of one environment.
#[derive(Debug, Clone)]
pub struct RollbackRequest {
    pub environment: String,
    /// A record id or a commit; the deploy before the current one when unset.
    pub to: Option<String>,
    pub dry_run: bool,
    pub allow_deletes: Option<usize>,
    pub overwrite_drift: bool,
    pub lock_timeout: Option<std::time::Duration>,
    /// How the plan is shown before the writes, and whether to ask first.
    pub show: super::show::Show,
}

/// The environment's newest `limit` ledger records, newest first.
pub fn history(workspace: &Workspace, environment: &str, limit: usize) -> Result<Vec<ledger::Record>> {
    workspace.environment(environment)?;
    Ok(runtime()?.block_on(deploy::history(&engine_request(workspace, environment, None)?, limit))?)
}

/// Finds the record to restore, then deploys its commit's tree (not the work tree) as a rollback.
pub fn rollback(
    runtime: &tokio::runtime::Runtime,
    workspace: &Workspace,
    request: &RollbackRequest,
    edges: &Edges,
) -> Result<DeployReport> {
    let env = request.environment.as_str();
    workspace.environment(env)?;
    let engine = engine_request(workspace, env, None)?;
    let (current, target) = runtime.block_on(deploy::rollback_target(&engine, request.to.as_deref()))?;
    let in_repository =
        workspace.git.as_ref().and_then(|git| git.resolve_commit(&target.commit).ok().flatten()).is_some();
    // The commit's tree when the repository has it; else the object versions the bucket kept, when every object
    // of the record has one (a versioned S3 bucket, GCS). MWAA's plugins.zip and requirements are built from the
    // commit, so there the commit is needed.
    let from_versions = !in_repository && deploy::restorable_from_versions(&target) && engine.settings.mwaa.is_none();
    if !in_repository && !from_versions {
        return Err(DeployError::Input(format!(
            "deploy {} is of commit {}, which this repository does not have, and the bucket kept no version of its \
             objects to restore from ({}): fetch the commit (`git fetch origin {}`, or a deeper clone) and run the \
             rollback again",
            target.id,
            target.commit,
            if engine.settings.mwaa.is_some() {
                "an MWAA environment's plugins and requirements are built from the commit"
            } else {
                "the bucket is not versioned, or the backend keeps no versions"
            },
            target.commit
        ))
        .into());
    }
    announce(
        Level::Notice,
        &format!(
            "rolling back {env} from deploy {} (commit {}) to deploy {} (commit {}, {})",
            current.id,
            short(&current.commit),
            target.id,
            short(&target.commit),
            target.time
        ),
    );
    if workspace.config.dbt.is_some() {
        announce(
            Level::Notice,
            "a rollback restores the mapped folders from the commit; the dbt state prefix is left as it is (its \
             artifacts were built, not committed): the next deploy publishes them again",
        );
    }
    let deploy_request = DeployRequest {
        environment: env.to_string(),
        dry_run: request.dry_run,
        allow_dirty: false,
        allow_deletes: request.allow_deletes,
        concurrency: None,
        lock_timeout: request.lock_timeout,
        dbt_artifacts: None,
        overwrite_drift: request.overwrite_drift,
        dbt_target: None,
        revision: Some(target.commit.clone()),
        kind: ledger::Kind::Rollback,
        rollback_to: Some(target.id.clone()),
        older: OlderCommit::Rollback,
        show: request.show,
    };
    let source = if from_versions {
        announce(
            Level::Notice,
            &format!(
                "commit {} is not in this repository: restoring deploy {}'s {} from the bucket's object \
                 versions, each checked against its recorded MD5 first",
                short(&target.commit),
                target.id,
                crate::plural::plural(target.objects.len(), "object")
            ),
        );
        runtime.block_on(deploy::stage_versions(&engine, &target))?
    } else {
        deploy::stage_source(&workspace.root, &workspace.config, env, Some(&target.commit))?
    };
    let report = deploy_staged(runtime, workspace, &deploy_request, &source, edges)?;
    warn_if_not_restored(&report, &target);
    Ok(report)
}

/// The plan restores the commit's tree under today's config; when that is not the record's object set (the
/// exclude file or the mappings changed since), says which keys differ.
fn warn_if_not_restored(report: &DeployReport, target: &ledger::Record) {
    let mut planned: BTreeMap<&str, Md5> = BTreeMap::new();
    for phase in &report.plan.phases {
        for (key, record) in &phase.unchanged_objects {
            planned.insert(key, record.md5);
        }
        for change in phase.uploads.iter().chain(&phase.replacements) {
            planned.insert(&change.key, change.md5.expect("uploads carry their hash"));
        }
    }
    let in_plan = |key: &str| report.plan.phases.iter().any(|phase| key.starts_with(&phase.prefix));
    let recorded: BTreeMap<&str, Md5> =
        target.objects.iter().filter(|(key, _)| in_plan(key)).map(|(key, record)| (key.as_str(), record.md5)).collect();
    let differing: BTreeSet<&str> =
        planned.keys().chain(recorded.keys()).filter(|key| planned.get(*key) != recorded.get(*key)).copied().collect();
    if !differing.is_empty() {
        announce(
            Level::Warning,
            &format!(
                "the rollback puts commit {}'s tree in place, which differs from what deploy {} recorded in {} \
                 (the config or exclude file changed since?): {}",
                short(&target.commit),
                target.id,
                crate::plural::plural(differing.len(), "object"),
                differing.iter().take(10).copied().collect::<Vec<_>>().join(", ")
            ),
        );
    }
}

/// The environment's drift against its last deploy (None when it has none). Plans HEAD's tree for the excludes
/// and protections that decide which bucket objects the mirror leaves alone.
pub fn drift(runtime: &tokio::runtime::Runtime, workspace: &Workspace, env: &str) -> Result<Option<Drift>> {
    workspace.environment(env)?;
    let source = deploy::stage_source(&workspace.root, &workspace.config, env, None)?;
    let mut request = engine_request(workspace, env, None)?;
    request.source = Some(&source);
    request.allow_dirty = true;
    let prepared = runtime.block_on(deploy::prepare(&request))?;
    Ok(prepared.plan.drift)
}

/// Every environment: its branch, last deployed commit, commits ahead, drift and lock. An environment whose
/// bucket cannot be read gets its error instead.
pub fn status(runtime: &tokio::runtime::Runtime, workspace: &Workspace) -> Vec<EnvironmentStatus> {
    workspace
        .config
        .environments
        .iter()
        .map(|(name, environment)| {
            let mut status = EnvironmentStatus {
                environment: name.clone(),
                branches: environment.branches.clone(),
                deployed_commit: None,
                deployed_at: None,
                commits_ahead: None,
                drift: None,
                lock: None,
                error: None,
            };
            if let Err(err) = fill_status(runtime, workspace, &mut status) {
                status.error = Some(err.to_string());
            }
            status
        })
        .collect()
}

fn fill_status(runtime: &tokio::runtime::Runtime, workspace: &Workspace, status: &mut EnvironmentStatus) -> Result<()> {
    let request = engine_request(workspace, &status.environment, None)?;
    let (marker, holder) =
        runtime.block_on(async { futures::try_join!(deploy::last_deploy(&request), deploy::lock_holder(&request)) })?;
    status.lock = holder.map(|holder| holder.describe());
    if let Some(marker) = &marker {
        status.deployed_commit = Some(marker.commit.clone());
        status.deployed_at = Some(marker.deployed_at.clone());
        if let (Some(git), Some(branch)) = (&workspace.git, status.branches.first()) {
            let tip = [branch.clone(), format!("origin/{branch}")]
                .into_iter()
                .find_map(|name| git.resolve_commit(&name).ok().flatten());
            if let (Some(tip), Ok(Some(deployed))) = (tip, git.resolve_commit(&marker.commit)) {
                status.commits_ahead = Some(git.count_ahead(&deployed, &tip)?);
            }
        }
    }
    status.drift = drift(runtime, workspace, &status.environment)?.map(|drift| !drift.is_empty());
    Ok(())
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}
