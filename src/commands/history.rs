//! `dagship history`, `rollback`, `drift` and `status`: the deploy ledger (src/deploy/ledger.rs) and drift
//! (src/deploy/drift.rs) read back, and a rollback run through the same `deploy_one` as a deploy.
use std::collections::BTreeMap;

use super::deploy::{Target, append_deploy_summary, deploy_one, deploy_outputs, render_deploy_text, request, setup};
use super::{env_path, print_stdout, runtime, write_step_outputs};
use crate::cli::{
    Cli, DbtArtifacts, DeployArgs, DriftArgs, HistoryArgs, OutputFormat, PlanFormat, RollbackArgs, StatusArgs,
};
use crate::config::Config;
use crate::deploy::{self, DeployError, DeployReport, Drift, OlderCommit, ledger};
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::git::Git;
use crate::github::summary::append_summary;
use crate::github::workflow::{Level, announce};
use crate::hash::Md5;
use crate::report::{
    EnvironmentStatus, history_json, render_drift_markdown, render_drift_text, render_history_markdown,
    render_history_text, render_status_markdown, render_status_text,
};

pub fn history(cli: &Cli, args: &HistoryArgs) -> Result<ExitCode> {
    let (root, _, config) = setup(cli)?;
    config.environment(&args.env).map_err(Error::Usage)?;
    let request = request(&root, &config, &args.env, None);
    let records = runtime()?.block_on(deploy::history(&request, args.limit))?;
    let rendered = match args.format {
        PlanFormat::Text => render_history_text(&args.env, &records),
        PlanFormat::Json => serde_json::to_string_pretty(&history_json(&records)).expect("JSON") + "\n",
        PlanFormat::Markdown => render_history_markdown(&args.env, &records),
    };
    print_stdout(&rendered)?;
    if let Some(summary_file) = env_path("GITHUB_STEP_SUMMARY") {
        append_summary(&summary_file, &render_history_markdown(&args.env, &records))?;
    }
    Ok(ExitCode::Ok)
}

pub fn rollback(cli: &Cli, args: &RollbackArgs) -> Result<ExitCode> {
    let (root, git, config) = setup(cli)?;
    config.environment(&args.env).map_err(Error::Usage)?;
    let runtime = runtime()?;
    let report = rollback_one(&runtime, &root, git.as_ref(), &config, args)?;
    let rendered = match args.format {
        OutputFormat::Json => serde_json::to_string_pretty(&report).expect("reports serialize") + "\n",
        OutputFormat::Text => render_deploy_text(&report),
    };
    print_stdout(&rendered)?;
    if let Some(summary_file) = env_path("GITHUB_STEP_SUMMARY") {
        append_deploy_summary(&summary_file, &report)?;
    }
    write_step_outputs(&deploy_outputs(std::slice::from_ref(&report)))?;
    Ok(ExitCode::Ok)
}

/// Finds the record to restore, then deploys its commit's tree (not the work tree) as a rollback. Shared with
/// `ci`'s `rollback-to` input.
pub(super) fn rollback_one(
    runtime: &tokio::runtime::Runtime,
    root: &std::path::Path,
    git: Option<&Git>,
    config: &Config,
    args: &RollbackArgs,
) -> Result<DeployReport> {
    let env = args.env.as_str();
    let (current, target) =
        runtime.block_on(deploy::rollback_target(&request(root, config, env, None), args.to.as_deref()))?;
    let in_repository = git.and_then(|git| git.resolve_commit(&target.commit).ok().flatten()).is_some();
    if !in_repository {
        return Err(DeployError::Input(format!(
            "deploy {} is of commit {}, which this repository does not have: fetch it (`git fetch origin {}`, or a \
             deeper clone) and run the rollback again. Restoring from bucket object versions is not supported yet",
            target.id, target.commit, target.commit
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
    if config.dbt.is_some() {
        announce(
            Level::Notice,
            "a rollback restores the mapped folders from the commit; the dbt state prefix is left as it is (its \
             artifacts were built, not committed): the next deploy publishes them again",
        );
    }
    let deploy_args = DeployArgs {
        env: Some(env.to_string()),
        branch: None,
        dry_run: args.dry_run,
        allow_dirty: false,
        allow_deletes: args.allow_deletes,
        concurrency: None,
        lock_timeout: args.lock_timeout,
        dbt_artifacts: DbtArtifacts::Skip,
        overwrite_drift: args.overwrite_drift,
        format: args.format,
    };
    let how = Target {
        revision: Some(target.commit.clone()),
        kind: ledger::Kind::Rollback,
        rollback_to: Some(target.id.clone()),
        older: OlderCommit::Rollback,
    };
    let report = deploy_one(runtime, root, config, env, &deploy_args, &how)?;
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
    let differing: Vec<&str> = planned
        .keys()
        .chain(recorded.keys())
        .filter(|key| planned.get(*key) != recorded.get(*key))
        .copied()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if !differing.is_empty() {
        announce(
            Level::Warning,
            &format!(
                "the rollback puts commit {}'s tree in place, which differs from what deploy {} recorded in {} \
                 object(s) (the config or exclude file changed since?): {}",
                short(&target.commit),
                target.id,
                differing.len(),
                differing.iter().take(10).copied().collect::<Vec<_>>().join(", ")
            ),
        );
    }
}

pub fn drift(cli: &Cli, args: &DriftArgs) -> Result<ExitCode> {
    let (root, _, config) = setup(cli)?;
    let runtime = runtime()?;
    let drift = environment_drift(&runtime, &root, &config, &args.env)?;
    let rendered = match args.format {
        PlanFormat::Text => render_drift_text(&args.env, drift.as_ref()),
        PlanFormat::Json => serde_json::to_string_pretty(&drift).expect("JSON") + "\n",
        PlanFormat::Markdown => render_drift_markdown(&args.env, drift.as_ref()),
    };
    print_stdout(&rendered)?;
    if let Some(summary_file) = env_path("GITHUB_STEP_SUMMARY") {
        append_summary(&summary_file, &render_drift_markdown(&args.env, drift.as_ref()))?;
    }
    let drifted = drift.as_ref().is_some_and(|drift| !drift.is_empty());
    write_step_outputs(&[("drift", drifted.to_string())])?;
    Ok(if drifted { ExitCode::ChecksFailed } else { ExitCode::Ok })
}

/// The environment's drift against its last deploy (None when it has none). Plans HEAD's tree for the excludes
/// and protections that decide which bucket objects the mirror leaves alone.
fn environment_drift(
    runtime: &tokio::runtime::Runtime,
    root: &std::path::Path,
    config: &Config,
    env: &str,
) -> Result<Option<Drift>> {
    config.environment(env).map_err(Error::Usage)?;
    let source = deploy::stage_source(root, config, env, None)?;
    let mut request = request(root, config, env, None);
    request.source = Some(&source);
    request.allow_dirty = true;
    let prepared = runtime.block_on(deploy::prepare(&request))?;
    Ok(prepared.plan.drift)
}

pub fn status(cli: &Cli, args: &StatusArgs) -> Result<ExitCode> {
    let (root, git, config) = setup(cli)?;
    let runtime = runtime()?;
    let statuses: Vec<EnvironmentStatus> = config
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
            if let Err(err) = fill_status(&runtime, &root, git.as_ref(), &config, &mut status) {
                status.error = Some(err.to_string());
            }
            status
        })
        .collect();
    let rendered = match args.format {
        PlanFormat::Text => render_status_text(&statuses),
        PlanFormat::Json => serde_json::to_string_pretty(&statuses).expect("JSON") + "\n",
        PlanFormat::Markdown => render_status_markdown(&statuses),
    };
    print_stdout(&rendered)?;
    if let Some(summary_file) = env_path("GITHUB_STEP_SUMMARY") {
        append_summary(&summary_file, &render_status_markdown(&statuses))?;
    }
    Ok(if statuses.iter().any(|status| status.error.is_some()) { ExitCode::Remote } else { ExitCode::Ok })
}

fn fill_status(
    runtime: &tokio::runtime::Runtime,
    root: &std::path::Path,
    git: Option<&Git>,
    config: &Config,
    status: &mut EnvironmentStatus,
) -> Result<()> {
    let request = request(root, config, &status.environment, None);
    let (marker, holder) =
        runtime.block_on(async { futures::try_join!(deploy::last_deploy(&request), deploy::lock_holder(&request)) })?;
    status.lock = holder.map(|holder| holder.describe());
    if let Some(marker) = &marker {
        status.deployed_commit = Some(marker.commit.clone());
        status.deployed_at = Some(marker.deployed_at.clone());
        if let (Some(git), Some(branch)) = (git, status.branches.first()) {
            let tip = [branch.clone(), format!("origin/{branch}")]
                .into_iter()
                .find_map(|name| git.resolve_commit(&name).ok().flatten());
            if let (Some(tip), Ok(Some(deployed))) = (tip, git.resolve_commit(&marker.commit)) {
                status.commits_ahead = Some(git.count_ahead(&deployed, &tip)?);
            }
        }
    }
    let drift = environment_drift(runtime, root, config, &status.environment)?;
    status.drift = drift.map(|drift| !drift.is_empty());
    Ok(())
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}
