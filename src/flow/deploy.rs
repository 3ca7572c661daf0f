//! The plan and deploy stages: the commit's files staged, the environment's dbt artifacts staged, the deploy
//! engine in between, the post-deploy verify after. `dagship plan`, `dagship deploy`, `dagship unlock` and both
//! flows of `ci` call these with plain requests.
use std::sync::Arc;
use std::time::Duration;

use super::engine_request;
use super::show::{Reviewer, Show, refusal};
use crate::dbt::{self, ArtifactsMode, Settings};
use crate::deploy::{self, DeployError, DeployReport, Holder, LockPolicy, OlderCommit, Plan, Request, ledger};
use crate::error::{Error, Result};
use crate::github::edges::Edges;
use crate::notice::{Level, announce};
use crate::platform::mwaa::{MwaaReport, MwaaStep};
use crate::random::random_hex;
use crate::workspace::Workspace;

/// What a plan of one environment needs.
#[derive(Debug, Clone)]
pub struct PlanRequest {
    pub environment: String,
    pub allow_deletes: Option<usize>,
    pub allow_dirty: bool,
    /// Which dbt artifacts the plan includes: built, existing, or none.
    pub dbt_artifacts: Option<ArtifactsMode>,
    /// Plan to replace DAGs and plugins edited in the bucket since the last deploy instead of refusing.
    pub overwrite_drift: bool,
    /// `--target`: the dbt target the artifacts are built with, over DBT_TARGET and the config (dbt/target.rs).
    pub dbt_target: Option<String>,
}

/// What a deploy of one environment needs.
#[derive(Debug, Clone)]
pub struct DeployRequest {
    pub environment: String,
    pub dry_run: bool,
    pub allow_dirty: bool,
    pub allow_deletes: Option<usize>,
    /// Parallel writes; the config's `deploy.concurrency` when unset.
    pub concurrency: Option<usize>,
    /// How long to wait for another deploy's lock; the config's `deploy.lock_timeout` when unset.
    pub lock_timeout: Option<Duration>,
    pub dbt_artifacts: Option<ArtifactsMode>,
    /// Replace DAGs and plugins edited in the bucket since the last deploy instead of refusing.
    pub overwrite_drift: bool,
    /// `--target`: the dbt target the artifacts are built with, over DBT_TARGET and the config (dbt/target.rs).
    pub dbt_target: Option<String>,
    /// The commit to deploy; HEAD when unset (a rollback names an earlier deploy's commit).
    pub revision: Option<String>,
    /// A deploy or a rollback, for the ledger; for a rollback, the record it restores.
    pub kind: ledger::Kind,
    pub rollback_to: Option<String>,
    /// What an ancestor of the deployed commit gets: a warning, a refusal (`ci`), a notice (a rollback).
    pub older: OlderCommit,
    /// How the plan is shown before the writes, and whether to ask first (src/flow/show.rs).
    pub show: Show,
}

impl DeployRequest {
    /// A deploy with the defaults `ci` uses: dbt artifacts built, the config's concurrency and lock timeout.
    pub fn new(environment: &str, dry_run: bool, allow_deletes: Option<usize>) -> DeployRequest {
        DeployRequest {
            environment: environment.to_string(),
            dry_run,
            allow_dirty: false,
            allow_deletes,
            concurrency: None,
            lock_timeout: None,
            dbt_artifacts: Some(ArtifactsMode::Build),
            overwrite_drift: false,
            dbt_target: None,
            revision: None,
            kind: ledger::Kind::Deploy,
            rollback_to: None,
            // `ci` puts older code back only through a rollback.
            older: OlderCommit::Refuse,
            show: Show::default(),
        }
    }
}

/// A plan and, on MWAA, what the deploy would do to the environment.
pub struct Planned {
    pub plan: Plan,
    pub mwaa: Option<MwaaReport>,
}

/// What a deploy of the commit to the environment would do. A read of the bucket, never a write.
pub fn plan(runtime: &tokio::runtime::Runtime, workspace: &Workspace, request: &PlanRequest) -> Result<Planned> {
    let env = request.environment.as_str();
    let source = deploy::stage_source(&workspace.root, &workspace.config, env, None)?;
    let staged = stage_dbt(runtime, workspace, env, request.dbt_artifacts, false, request.dbt_target.as_deref())?;
    if request.dbt_artifacts.is_none() {
        super::show::say_dbt_state_left_out(&workspace.config, env);
    }
    let mut engine = engine_request(workspace, env, request.allow_deletes)?;
    engine.dbt_state = staged.as_ref().map(|staged| staged.path());
    engine.source = Some(&source);
    engine.allow_dirty = request.allow_dirty;
    engine.overwrite_drift = request.overwrite_drift;
    let prepared = runtime.block_on(deploy::prepare(&engine))?;
    // On MWAA, plugins.zip, requirements and the startup script change through an environment update, not the
    // mirror: a plan shows what that update would do too.
    let mwaa = plan_mwaa(runtime, &engine);
    Ok(Planned { plan: prepared.plan, mwaa })
}

/// What a deploy would do to the MWAA environment, for a plan. Informative only: a plan needs read access to the
/// bucket already, but may lack MWAA's; any failure is a warning, never the plan's result. plugins.zip and the
/// requirements come from the request's staged commit, as in the deploy itself.
fn plan_mwaa(runtime: &tokio::runtime::Runtime, request: &Request<'_>) -> Option<MwaaReport> {
    let environment = request.config.environment(request.environment).ok()?;
    environment.mwaa.as_ref()?;
    let root = request.source?.root();
    let result = runtime.block_on(async {
        let step = MwaaStep::new(root, request.config, environment, &request.url).await?;
        match step {
            Some(step) => Ok::<_, DeployError>(Some(step.apply(true).await?)),
            None => Ok(None),
        }
    });
    result.unwrap_or_else(|err| {
        announce(Level::Warning, &format!("cannot tell what the deploy would do to MWAA: {err}"));
        None
    })
}

/// The environments a deploy from `branch` reaches, in chain order; a usage error when none does.
pub fn chain(workspace: &Workspace, branch: &str) -> Result<Vec<String>> {
    let environments = workspace.config.deploy_chain(branch);
    if environments.is_empty() {
        return Err(Error::Usage(format!(
            "no environment deploys from branch `{branch}`: add it to an environment's `branches` in dagship.yml"
        )));
    }
    Ok(environments)
}

/// Says which environments of a chain are not deployed because the deploy to `env` failed.
pub fn announce_chain_stop(env: &str, skipped: &[String]) {
    if !skipped.is_empty() {
        announce(Level::Error, &format!("the deploy to {env} failed: not deploying {} after it", skipped.join(", ")));
    }
}

/// One environment's deploy: its dbt artifacts staged, then the engine, then Airflow's view of the DAGs written
/// (its section goes to the step summary through `edges`). A verify failure after the writes is
/// `Error::AfterDeploy`, carrying what was written.
pub fn deploy_one(
    runtime: &tokio::runtime::Runtime,
    workspace: &Workspace,
    request: &DeployRequest,
    edges: &Edges,
) -> Result<DeployReport> {
    let (root, config, env) = (workspace.root.as_path(), &workspace.config, request.environment.as_str());
    // From here on SIGINT and SIGTERM end the run with exit 130, and stop a deploy's writes gracefully.
    runtime.block_on(async { crate::cancel::listen() });
    // The commit's files are staged first: everything deployed, MWAA's plugins.zip included, comes from them.
    let source = deploy::stage_source(root, config, env, request.revision.as_deref())?;
    deploy_staged(runtime, workspace, request, &source, edges)
}

/// [`deploy_one`] of files already staged: a commit's, or a ledger record's object versions (a rollback to a
/// commit the repository no longer has).
pub fn deploy_staged(
    runtime: &tokio::runtime::Runtime,
    workspace: &Workspace,
    request: &DeployRequest,
    source: &deploy::StagedSource,
    edges: &Edges,
) -> Result<DeployReport> {
    let (config, env) = (&workspace.config, request.environment.as_str());
    runtime.block_on(async { crate::cancel::listen() });
    let dags = check_dags(workspace, request, &source.commit)?;
    let staged =
        stage_dbt(runtime, workspace, env, request.dbt_artifacts, request.dry_run, request.dbt_target.as_deref())?;
    let mut engine = engine_request(workspace, env, request.allow_deletes)?;
    engine.dbt_state = staged.as_ref().map(|staged| staged.path());
    engine.source = Some(source);
    engine.allow_dirty = request.allow_dirty;
    engine.overwrite_drift = request.overwrite_drift;
    let environment = workspace.environment(env)?;
    let mwaa = runtime
        .block_on(MwaaStep::new(source.root(), config, environment, &engine.url))
        .map_err(DeployError::from)?
        .map(Arc::new);
    let options = deploy::DeployOptions {
        dry_run: request.dry_run,
        concurrency: request.concurrency.unwrap_or(config.deploy.concurrency),
        lock: LockPolicy {
            timeout: request.lock_timeout.unwrap_or_else(|| config.deploy.lock_timeout()),
            ttl: config.deploy.lock_ttl(),
            poll: Duration::from_millis(500),
        },
        holder: holder(&source.commit),
        mwaa,
        kind: request.kind,
        rollback_to: request.rollback_to.clone(),
        older: request.older,
        review: Some(Arc::new(Reviewer::new(request.show))),
        dags,
    };
    let started = std::time::SystemTime::now();
    let report = match runtime.block_on(deploy::deploy(&engine, options)) {
        Ok(report) => report,
        Err(DeployError::Refused(reasons)) => return Err(refusal(env, &reasons)),
        Err(err) => return Err(err.into()),
    };
    if let Some(settings) = &environment.verify
        && !report.dry_run
        && !report.up_to_date
        && let Err(err) =
            super::verify::verify_deploy(runtime, workspace, environment, settings, &report, started, edges)
    {
        return Err(Error::AfterDeploy { report: Box::new(report), source: Box::new(err) });
    }
    Ok(report)
}

/// `dags_check.before_deploy`: the commit's DAGs imported (the DAG check of `dagship dags check`) before anything
/// is written, dbt's build included. A file that does not import, or a DAG id defined twice, refuses the deploy;
/// otherwise the DAG ids per file, for the ledger record. A rollback puts back files that were deployed once and
/// is not checked again.
fn check_dags(
    workspace: &Workspace,
    request: &DeployRequest,
    commit: &str,
) -> Result<std::collections::BTreeMap<String, Vec<String>>> {
    if !workspace.config.dags_check.before_deploy || request.kind != ledger::Kind::Deploy {
        return Ok(Default::default());
    }
    let report = crate::dags::check_at_commit(&workspace.root, &workspace.config, commit, None)
        .inspect_err(crate::dags::annotate_failure)?;
    let failures = crate::dags::failures(&report);
    if !failures.is_empty() {
        return Err(refusal(&request.environment, &failures));
    }
    eprintln!(
        "DAG check before the deploy (dags_check.before_deploy): {} in {} import",
        crate::plural::plural(report.summary.dags, "DAG"),
        crate::plural::plural(report.summary.files, "file")
    );
    Ok(crate::dags::ids_by_file(&report))
}

/// The dbt artifacts this deploy publishes to the state prefix, staged in a temporary folder: built by dbt,
/// taken from the project's target folder, or none (dbt not configured, skipped, or the environment has no
/// `dbt_target`). Exposure files are pulled from the bucket first, so docs and the manifest include them.
/// A dry run changes nothing in the work tree: it pulls no exposures and runs no dbt (which writes `target/`,
/// `dbt_packages/` and `.user.yml` into the project), and says so; taking existing artifacts only reads.
fn stage_dbt(
    runtime: &tokio::runtime::Runtime,
    workspace: &Workspace,
    env: &str,
    mode: Option<ArtifactsMode>,
    dry_run: bool,
    target_flag: Option<&str>,
) -> Result<Option<tempfile::TempDir>> {
    let config = &workspace.config;
    let mode = match mode {
        Some(ArtifactsMode::Build) if dry_run && config.dbt.is_some() => {
            announce(
                Level::Notice,
                &format!(
                    "dry run: dbt is not run and the bucket's exposures are not pulled (both write into the \
                     repository); the plan leaves {env}'s dbt state as it is (`--dbt-artifacts existing` plans \
                     the artifacts already in the target folder)"
                ),
            );
            return Ok(None);
        }
        Some(mode) => mode,
        None => return Ok(None),
    };
    let Some(environment) = config.environments.get(env) else { return Ok(None) };
    if config.dbt.is_none() {
        return Ok(None);
    }
    if environment.dbt_target.is_none() {
        announce(Level::Notice, &format!("environments.{env} has no dbt_target: its dbt state is not published"));
        return Ok(None);
    }
    let settings = Settings::resolve(&workspace.root, config, env, target_flag)?;
    if mode == ArtifactsMode::Build {
        let request = engine_request(workspace, env, None)?;
        runtime.block_on(async {
            let store = request.open_store().await?;
            let pulled = dbt::pull_exposures(store.as_ref(), &settings).await?;
            super::compile::announce_exposure_conflicts(&pulled);
            if pulled.written > 0 {
                eprintln!(
                    "pulled {} into {}/{}",
                    crate::plural::plural(pulled.written, "exposure file"),
                    settings.dbt.exposures_dir,
                    dbt::BUCKET_EXPOSURES_DIR
                );
            }
            Ok::<_, Error>(())
        })?;
    }
    let staged = dbt::stage_for_deploy(&settings, mode).inspect_err(super::compile::annotate_failure)?;
    Ok(Some(staged))
}

/// Removes the environment's deploy lock; the holder it removed, if any.
pub fn unlock(workspace: &Workspace, environment: &str, force: bool) -> Result<Option<Holder>> {
    let request = engine_request(workspace, environment, None)?;
    Ok(super::runtime()?.block_on(deploy::unlock(&request, force))?)
}

/// Who is deploying, for the lock and the marker. `commit` is the one whose tree is deployed: the marker names
/// it even where the run's `GITHUB_SHA` says otherwise (a `workflow_run`, a checkout of another ref).
fn holder(commit: &str) -> Holder {
    let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    if let Some(sha) = env("GITHUB_SHA").filter(|sha| sha != commit) {
        announce(
            Level::Warning,
            &format!(
                "deploying the checked-out commit {commit}, not the run's GITHUB_SHA {sha}: the marker names {commit}"
            ),
        );
    }
    let run_url = match (env("GITHUB_SERVER_URL"), env("GITHUB_REPOSITORY"), env("GITHUB_RUN_ID")) {
        (Some(server), Some(repository), Some(run)) => Some(format!("{server}/{repository}/actions/runs/{run}")),
        _ => None,
    };
    Holder {
        id: random_hex(),
        commit: commit.to_string(),
        run_url,
        host: gethostname::gethostname().to_string_lossy().into_owned(),
        pid: std::process::id(),
        actor: env("GITHUB_ACTOR").or_else(|| env("USER")),
        acquired_at: deploy::now_seconds(),
    }
}
