//! `dagship dbt compile`: the environment from `--env` or the pull request's base branch, its state from the
//! bucket, dbt in between, and the report, annotations and step outputs out.
use std::path::Path;

use super::deploy::{request, setup};
use super::{env_path, print_stdout, runtime, write_step_outputs};
use crate::cli::{Cli, DbtCompileArgs, OutputFormat};
use crate::config::Config;
use crate::dbt::{self, CompileOptions, CompileReport, DbtError, Settings};
use crate::deploy::DeployError;
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::github::summary::append_summary;
use crate::github::workflow::{Level, annotate, announce};
use crate::report::{EXPLODED_HINT, describe_state, render_compile_markdown, render_compile_text};

pub fn compile(cli: &Cli, args: &DbtCompileArgs) -> Result<ExitCode> {
    let (root, _, config) = setup(cli)?;
    let environment = environment(&config, args.env.as_deref(), args.base_ref.as_deref())?;
    let settings = Settings::resolve(&root, &config, &environment)?;
    let options = CompileOptions { full: args.full, skip_checks: args.skip_checks };
    let report = match run_compile(&root, &config, &settings, options) {
        Ok(report) => report,
        Err(err) => {
            annotate_failure(&err);
            return Err(err.into());
        }
    };
    tell(&report);
    match args.format {
        OutputFormat::Json => {
            print_stdout(&(serde_json::to_string_pretty(&report).expect("reports serialize") + "\n"))?
        }
        OutputFormat::Text => print_stdout(&render_compile_text(&report))?,
    }
    if let Some(summary_file) = env_path("GITHUB_STEP_SUMMARY") {
        append_summary(&summary_file, &render_compile_markdown(&report))?;
    }
    write_step_outputs(&compile_outputs(&report))?;
    Ok(ExitCode::Ok)
}

/// The step outputs of a compile, the same from `dagship dbt compile` and `dagship ci`.
pub(super) fn compile_outputs(report: &CompileReport) -> Vec<(&'static str, String)> {
    let names = |models: &[dbt::SelectedModel]| {
        let names: Vec<&str> = models.iter().map(|model| model.name.as_str()).collect();
        serde_json::to_string(&names).expect("names serialize")
    };
    vec![
        ("dbt_changed", report.dbt_changed.to_string()),
        ("modified_models", names(&report.modified_models)),
        ("downstream_models", names(&report.downstream_models)),
        ("deleted_models", serde_json::to_string(&report.deleted_models).expect("names serialize")),
        ("dbt_mode", report.mode.name().into()),
        ("dbt_state", describe_state(report)),
    ]
}

/// Fetches the state and exposures while the preflight checks run, then runs dbt. The state folder lives until
/// the report is made.
pub(super) fn run_compile(
    root: &Path,
    config: &Config,
    settings: &Settings,
    options: CompileOptions,
) -> Result<CompileReport, DbtError> {
    let request = request(root, config, &settings.environment, None);
    let runtime = runtime().map_err(|err| DbtError::Setup(err.to_string()))?;
    let (preflight, fetched) = std::thread::scope(|scope| {
        let preflight = scope.spawn(|| dbt::preflight(settings));
        let fetched = runtime.block_on(async {
            let store = request.open_store().await.map_err(store_error)?;
            let wants_cache = settings.dbt.parse_cache && !options.full;
            let state = dbt::download(store.as_ref(), settings, wants_cache).await?;
            let exposures = dbt::pull_exposures(store.as_ref(), settings).await?;
            Ok::<_, DbtError>((state, exposures))
        });
        (preflight.join().expect("the preflight checks do not panic"), fetched)
    });
    // A setup problem (no dbt, no profile) is the clearer message, whatever the download did.
    let preflight = preflight?;
    let (state, exposures) = fetched?;
    announce_exposure_conflicts(&exposures);
    dbt::compile(settings, preflight, &state, exposures.written, options)
}

/// Exposures from the bucket left out because the repository (or an earlier bucket file) defines them.
pub(super) fn announce_exposure_conflicts(pull: &dbt::ExposurePull) {
    for conflict in &pull.conflicts {
        announce(Level::Warning, &format!("bucket exposures: {conflict}"));
    }
}

/// A bucket that cannot be reached stays a remote failure (exit 4); a bad bucket URL is a setup error.
fn store_error(err: DeployError) -> DbtError {
    match err {
        DeployError::Store(err) => DbtError::Store(err),
        other => DbtError::Setup(other.to_string()),
    }
}

/// `--env`, else the environment a pull request into `--base-ref` is checked against.
pub(super) fn environment(config: &Config, env: Option<&str>, base_ref: Option<&str>) -> Result<String> {
    if let Some(env) = env {
        return Ok(env.to_string());
    }
    let branch = base_ref.unwrap_or_default();
    config.environment_for_branch(branch).map(str::to_string).ok_or_else(|| {
        Error::Usage(format!(
            "no environment deploys from branch `{branch}` (no `branches: [{branch}]` in dagship.yml's \
             environments); pass --env or map the branch"
        ))
    })
}

/// Notices a reader of the log needs: a full compile, a refused parse cache, a selection that exploded.
pub(super) fn tell(report: &CompileReport) {
    if let Some(problem) = &report.state.unusable {
        announce(
            Level::Warning,
            &format!(
                "the dbt state of {} at {} is unusable: {problem}; compiled the whole project instead (the next \
                 deploy publishes a fresh manifest)",
                report.environment, report.state.manifest
            ),
        );
    } else if !report.state.found {
        announce(
            Level::Notice,
            &format!(
                "no dbt state for {} at {}: compiled the whole project; deploy once to publish state",
                report.environment, report.state.manifest
            ),
        );
    }
    if let dbt::ParseCacheUse::Bucket { outcome: dbt::PartialParse::Rejected(reason) } = &report.parse_cache {
        announce(Level::Notice, &format!("dbt refused the environment's parse cache ({reason}); it parsed in full"));
    }
    if report.exploded {
        announce(
            Level::Warning,
            &format!("{} of {} models selected. {EXPLODED_HINT}", report.selected_count(), report.total_models),
        );
    }
}

/// dbt's errors as annotations on the files they name.
pub(super) fn annotate_failure(err: &DbtError) {
    if let DbtError::Failed { annotations, .. } = err {
        for annotation in annotations {
            annotate(Level::Error, annotation.file.as_deref(), annotation.line, &annotation.message);
        }
    }
}
