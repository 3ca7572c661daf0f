//! The dbt compile stage: the environment's state and exposures fetched from its bucket while the preflight
//! checks run, then dbt, then the notices a reader of the log needs. `dagship dbt compile` and the pull request
//! check call `compile`; the deploy stage shares the exposure and failure notices.
use super::engine_request;
use crate::dbt::{self, CompileOptions, CompileReport, DbtError, Settings};
use crate::deploy::DeployError;
use crate::error::{Error, Result};
use crate::notice::{Level, annotate, announce};
use crate::report::EXPLODED_HINT;
use crate::workspace::Workspace;

/// What a compile needs, in domain terms.
#[derive(Debug, Clone)]
pub struct CompileRequest {
    pub environment: String,
    /// Compile the whole project, even when the environment has state.
    pub full: bool,
    pub skip_checks: bool,
    /// `--target`: overrides DBT_TARGET and the environment's targets (dbt/target.rs).
    pub target: Option<String>,
}

/// The environment a compile runs against: `environment` when given, else the one a pull request into
/// `base_ref` is checked against.
pub fn environment_for(workspace: &Workspace, environment: Option<&str>, base_ref: Option<&str>) -> Result<String> {
    if let Some(env) = environment {
        return Ok(env.to_string());
    }
    let branch = base_ref.unwrap_or_default();
    workspace.config.environment_for_branch(branch).map(str::to_string).ok_or_else(|| {
        Error::Usage(format!(
            "no environment deploys from branch `{branch}` (no `branches: [{branch}]` in dagship.yml's \
             environments); pass --env or map the branch"
        ))
    })
}

/// Resolves the environment's dbt settings, runs the compile, annotates dbt's errors on their files and
/// prints the notices about the state it used.
pub fn compile(workspace: &Workspace, request: &CompileRequest) -> Result<CompileReport> {
    let settings =
        Settings::resolve(&workspace.root, &workspace.config, &request.environment, request.target.as_deref())?;
    let options = CompileOptions { full: request.full, skip_checks: request.skip_checks };
    let report = run_compile(workspace, &settings, options).inspect_err(annotate_failure)?;
    tell(&report);
    Ok(report)
}

/// Fetches the state and exposures while the preflight checks run, then runs dbt. The state folder lives until
/// the report is made.
fn run_compile(workspace: &Workspace, settings: &Settings, options: CompileOptions) -> Result<CompileReport, DbtError> {
    let request =
        engine_request(workspace, &settings.environment, None).map_err(|err| DbtError::Setup(err.to_string()))?;
    let runtime = super::runtime().map_err(|err| DbtError::Setup(err.to_string()))?;
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
pub fn announce_exposure_conflicts(pull: &dbt::ExposurePull) {
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

/// Notices a reader of the log needs: a full compile, a refused parse cache, a selection that exploded.
fn tell(report: &CompileReport) {
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
pub fn annotate_failure(err: &DbtError) {
    if let DbtError::Failed { annotations, .. } = err {
        for annotation in annotations {
            annotate(Level::Error, annotation.file.as_deref(), annotation.line, &annotation.message);
        }
    }
}
