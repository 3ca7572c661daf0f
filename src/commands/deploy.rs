//! `dagship plan`, `dagship deploy` and `dagship unlock`: the config and the repository in, the deploy
//! engine in between, renderings and step outputs out.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::{config_path, env_path, load_config, print_stdout, runtime, write_step_outputs};
use crate::cli::{Cli, DbtArtifacts, DeployArgs, OutputFormat, PlanArgs, PlanFormat, UnlockArgs};
use crate::config::Config;
use crate::dbt::{self, ArtifactsMode, Settings};
use crate::deploy::{self, DeployError, DeployReport, Holder, LockPolicy, OlderCommit, Request, ledger};
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::git::Git;
use crate::github::output::random_hex;
use crate::github::summary::append_summary;
use crate::github::workflow::{Level, announce};
use crate::platform::mwaa::{MwaaReport, MwaaStep};
use crate::report::{render_mwaa_markdown, render_mwaa_text, render_plan_markdown, render_plan_text};
use crate::store::StoreOptions;

/// The repository root (the git work tree when there is one) and the loaded config.
pub(super) fn setup(cli: &Cli) -> Result<(PathBuf, Option<Git>, Config)> {
    let git = Git::discover(&cli.repo).ok();
    let root = match &git {
        Some(git) => git.root().to_path_buf(),
        None => cli.repo.clone(),
    };
    let config = load_config(&config_path(cli, git.as_ref()))?.config;
    Ok((root, git, config))
}

/// What the deploy engine needs to know about `env`; `detect --since-deploy` uses it too.
pub(super) fn request<'a>(
    root: &'a Path,
    config: &'a Config,
    env: &'a str,
    allow_deletes: Option<usize>,
) -> Request<'a> {
    Request {
        repo_root: root,
        config,
        environment: env,
        store_options: StoreOptions::default(),
        allow_deletes,
        dbt_state: None,
        source: None,
        allow_dirty: false,
        overwrite_drift: false,
    }
}

/// What `deploy_one` deploys: HEAD, or (a rollback) an earlier ledger record's commit.
pub(super) struct Target {
    /// The commit to stage; HEAD when `None`.
    pub revision: Option<String>,
    pub kind: ledger::Kind,
    pub rollback_to: Option<String>,
    pub older: OlderCommit,
}

impl Target {
    /// HEAD, as a plain deploy.
    pub fn head(older: OlderCommit) -> Target {
        Target { revision: None, kind: ledger::Kind::Deploy, rollback_to: None, older }
    }
}

pub fn plan(cli: &Cli, args: &PlanArgs) -> Result<ExitCode> {
    let (root, _, config) = setup(cli)?;
    let runtime = runtime()?;
    let source = deploy::stage_source(&root, &config, &args.env, None)?;
    let staged = stage_dbt(&runtime, &root, &config, &args.env, args.dbt_artifacts, false)?;
    let mut request = request(&root, &config, &args.env, args.allow_deletes);
    request.dbt_state = staged.as_ref().map(|staged| staged.path());
    request.source = Some(&source);
    request.allow_dirty = args.allow_dirty;
    request.overwrite_drift = args.overwrite_drift;
    let prepared = runtime.block_on(deploy::prepare(&request))?;
    let plan = &prepared.plan;
    let rendered = match args.format {
        PlanFormat::Text => render_plan_text(plan),
        PlanFormat::Json => serde_json::to_string_pretty(plan).expect("plans serialize") + "\n",
        PlanFormat::Markdown => render_plan_markdown(plan),
    };
    print_stdout(&rendered)?;
    let mwaa = plan_mwaa(&runtime, &request);
    if let (Some(mwaa), PlanFormat::Text) = (&mwaa, args.format) {
        print_stdout(&render_mwaa_text(mwaa))?;
    }
    if let Some(summary_file) = env_path("GITHUB_STEP_SUMMARY") {
        append_summary(&summary_file, &render_plan_markdown(plan))?;
        if let Some(mwaa) = &mwaa {
            append_summary(&summary_file, &render_mwaa_markdown(mwaa))?;
        }
    }
    write_step_outputs(&[
        ("plan_uploads", (plan.summary.uploads + plan.summary.replacements).to_string()),
        ("plan_deletions", plan.summary.deletions.to_string()),
        ("plan_json", serde_json::to_string(plan).expect("plans serialize")),
    ])?;
    if plan.refusals.is_empty() {
        Ok(ExitCode::Ok)
    } else {
        for refusal in &plan.refusals {
            announce(Level::Error, &format!("a deploy of this plan would be refused: {refusal}"));
        }
        Ok(ExitCode::Refused)
    }
}

pub fn deploy(cli: &Cli, args: &DeployArgs) -> Result<ExitCode> {
    let (root, _, config) = setup(cli)?;
    let environments = match (&args.env, &args.branch) {
        (Some(env), _) => vec![env.clone()],
        (None, Some(branch)) => config.deploy_chain(branch),
        (None, None) => unreachable!("clap requires --env or --branch"),
    };
    if environments.is_empty() {
        let branch = args.branch.as_deref().unwrap_or_default();
        return Err(Error::Usage(format!(
            "no environment deploys from branch `{branch}`: add it to an environment's `branches` in dagship.yml"
        )));
    }
    let runtime = runtime()?;
    let mut reports = Vec::new();
    for (position, env) in environments.iter().enumerate() {
        match deploy_one(&runtime, &root, &config, env, args, &Target::head(OlderCommit::Warn)) {
            Ok(report) => reports.push(report),
            Err(err) => {
                announce_chain_stop(env, &environments[position + 1..]);
                return Err(err);
            }
        }
    }
    let rendered = match (args.format, args.branch.is_some()) {
        (OutputFormat::Json, false) => serde_json::to_string_pretty(&reports[0]).expect("reports serialize") + "\n",
        (OutputFormat::Json, true) => serde_json::to_string_pretty(&reports).expect("reports serialize") + "\n",
        (OutputFormat::Text, _) => reports.iter().map(render_deploy_text).collect(),
    };
    print_stdout(&rendered)?;
    if let Some(summary_file) = env_path("GITHUB_STEP_SUMMARY") {
        for report in &reports {
            append_deploy_summary(&summary_file, report)?;
        }
    }
    write_step_outputs(&deploy_outputs(&reports))?;
    Ok(ExitCode::Ok)
}

/// Says which environments of a chain are not deployed because the deploy to `env` failed.
pub(super) fn announce_chain_stop(env: &str, skipped: &[String]) {
    if !skipped.is_empty() {
        announce(Level::Error, &format!("the deploy to {env} failed: not deploying {} after it", skipped.join(", ")));
    }
}

/// One environment's deploy in the step summary: its plan and, on MWAA, what happened to the environment.
pub(super) fn append_deploy_summary(summary_file: &Path, report: &DeployReport) -> Result<()> {
    append_summary(summary_file, &render_plan_markdown(&report.plan))?;
    if let Some(mwaa) = &report.mwaa {
        append_summary(summary_file, &render_mwaa_markdown(mwaa))?;
    }
    Ok(())
}

/// The step outputs of a run of deploys (one per environment, in order), for `deploy` and `ci`.
pub(super) fn deploy_outputs(reports: &[DeployReport]) -> Vec<(String, String)> {
    let written: Vec<&str> = reports
        .iter()
        .filter(|report| !report.dry_run && !report.up_to_date)
        .map(|report| report.environment.as_str())
        .collect();
    let sum = |count: fn(&DeployReport) -> usize| reports.iter().map(count).sum::<usize>().to_string();
    let mwaa_updated = reports.iter().any(|report| report.mwaa.as_ref().is_some_and(MwaaReport::updated));
    [
        ("deployed", (!written.is_empty()).to_string()),
        ("deployed_environments", serde_json::to_string(&written).expect("names serialize")),
        ("plan_uploads", sum(|report| report.plan.summary.uploads + report.plan.summary.replacements)),
        ("plan_deletions", sum(|report| report.plan.summary.deletions)),
        ("mwaa_updated", mwaa_updated.to_string()),
    ]
    .map(|(name, value)| (name.to_string(), value))
    .into()
}

/// What a deploy would do to the MWAA environment, for a plan. Informative only: a plan needs read access to the
/// bucket already, but may lack MWAA's; any failure is a warning, never the plan's result. plugins.zip and the
/// requirements come from the request's staged commit, as in the deploy itself.
pub(super) fn plan_mwaa(runtime: &tokio::runtime::Runtime, request: &Request<'_>) -> Option<MwaaReport> {
    let environment = request.config.environment(request.environment).ok()?;
    environment.mwaa.as_ref()?;
    let root = request.source?.root();
    let result = runtime.block_on(async {
        let step = MwaaStep::new(root, request.config, environment, &request.url()?).await?;
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

/// One environment's deploy: its dbt artifacts staged, then the engine.
pub(super) fn deploy_one(
    runtime: &tokio::runtime::Runtime,
    root: &Path,
    config: &Config,
    env: &str,
    args: &DeployArgs,
    target: &Target,
) -> Result<DeployReport> {
    // From here on SIGINT and SIGTERM end the run with exit 130, and stop a deploy's writes gracefully.
    runtime.block_on(async { crate::cancel::listen() });
    // The commit's files are staged first: everything deployed, MWAA's plugins.zip included, comes from them.
    let source = deploy::stage_source(root, config, env, target.revision.as_deref())?;
    let staged = stage_dbt(runtime, root, config, env, args.dbt_artifacts, args.dry_run)?;
    let mut request = request(root, config, env, args.allow_deletes);
    request.dbt_state = staged.as_ref().map(|staged| staged.path());
    request.source = Some(&source);
    request.allow_dirty = args.allow_dirty;
    request.overwrite_drift = args.overwrite_drift;
    let environment = config.environment(env).map_err(Error::Usage)?;
    let mwaa = runtime
        .block_on(MwaaStep::new(source.root(), config, environment, &request.url()?))
        .map_err(DeployError::from)?
        .map(Arc::new);
    let options = deploy::DeployOptions {
        dry_run: args.dry_run,
        concurrency: args.concurrency.map_or(config.deploy.concurrency, usize::from),
        lock: LockPolicy {
            timeout: args.lock_timeout.unwrap_or_else(|| config.deploy.lock_timeout()),
            ttl: config.deploy.lock_ttl(),
            poll: Duration::from_millis(500),
        },
        holder: holder(&source.commit),
        mwaa,
        kind: target.kind,
        rollback_to: target.rollback_to.clone(),
        older: target.older,
    };
    let started = std::time::SystemTime::now();
    let report = match runtime.block_on(deploy::deploy(&request, options)) {
        Ok(report) => report,
        Err(DeployError::Refused(reasons)) => {
            for reason in &reasons {
                announce(Level::Error, &format!("refusing to deploy to {env}: {reason}"));
            }
            return Err(DeployError::Refused(reasons).into());
        }
        Err(err) => return Err(err.into()),
    };
    if let Some(settings) = &environment.verify
        && !report.dry_run
        && !report.up_to_date
        && let Err(err) = super::verify::verify_deploy(runtime, root, config, environment, settings, &report, started)
    {
        return Err(Error::AfterDeploy { report: Box::new(report), source: Box::new(err) });
    }
    Ok(report)
}

/// The dbt artifacts this deploy publishes to the state prefix, staged in a temporary folder: built by dbt,
/// taken from the project's target folder, or none (dbt not configured, skipped, or the environment has no
/// `dbt_target`). Exposure files are pulled from the bucket first, so docs and the manifest include them.
/// A dry run changes nothing in the work tree: it pulls no exposures and runs no dbt (which writes `target/`,
/// `dbt_packages/` and `.user.yml` into the project), and says so; taking existing artifacts only reads.
fn stage_dbt(
    runtime: &tokio::runtime::Runtime,
    root: &Path,
    config: &Config,
    env: &str,
    mode: DbtArtifacts,
    dry_run: bool,
) -> Result<Option<tempfile::TempDir>> {
    let mode = match mode {
        DbtArtifacts::Build if dry_run && config.dbt.is_some() => {
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
        DbtArtifacts::Build => ArtifactsMode::Build,
        DbtArtifacts::Existing => ArtifactsMode::Existing,
        DbtArtifacts::Skip => return Ok(None),
    };
    let Some(environment) = config.environments.get(env) else { return Ok(None) };
    if config.dbt.is_none() {
        return Ok(None);
    }
    if environment.dbt_target.is_none() {
        announce(Level::Notice, &format!("environments.{env} has no dbt_target: its dbt state is not published"));
        return Ok(None);
    }
    let settings = Settings::resolve(root, config, env)?;
    if mode == ArtifactsMode::Build {
        let request = request(root, config, env, None);
        runtime.block_on(async {
            let store = request.open_store().await?;
            let pulled = dbt::pull_exposures(store.as_ref(), &settings).await?;
            super::dbt::announce_exposure_conflicts(&pulled);
            if pulled.written > 0 {
                eprintln!(
                    "pulled {} exposure file(s) into {}/{}",
                    pulled.written,
                    settings.dbt.exposures_dir,
                    dbt::BUCKET_EXPOSURES_DIR
                );
            }
            Ok::<_, Error>(())
        })?;
    }
    let staged = dbt::stage_for_deploy(&settings, mode).inspect_err(super::dbt::annotate_failure)?;
    Ok(Some(staged))
}

pub fn unlock(cli: &Cli, args: &UnlockArgs) -> Result<ExitCode> {
    let (root, _, config) = setup(cli)?;
    let request = request(&root, &config, &args.env, None);
    match runtime()?.block_on(deploy::unlock(&request, args.force))? {
        Some(holder) => println!("removed the lock of environment `{}` held by {}", args.env, holder.describe()),
        None => println!("environment `{}` has no deploy lock", args.env),
    }
    Ok(ExitCode::Ok)
}

pub(super) fn render_deploy_text(report: &DeployReport) -> String {
    let mut text = render_plan_text(&report.plan);
    if report.dry_run {
        text.push_str("dry run: nothing written\n");
    } else if report.up_to_date {
        text.push_str(&format!(
            "{} is up to date with commit {}: nothing written\n",
            report.environment, report.commit
        ));
    } else {
        if let Some(previous) = &report.took_over_lock_from {
            text.push_str(&format!("took over a stale lock held by {}\n", previous.describe()));
        }
        text.push_str(&format!("deployed commit {} to {} ({})\n", report.commit, report.environment, report.bucket));
    }
    if let Some(mwaa) = &report.mwaa {
        text.push_str(&render_mwaa_text(mwaa));
    }
    text
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
