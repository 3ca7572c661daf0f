//! The pull request check of `dagship ci`: a list of steps run in order against the environment the base branch
//! deploys to. Each step adds step outputs and a Markdown section (for the step summary and the sticky comment);
//! a step that fails is reported in its section and the later steps still run, so one comment shows every
//! problem. Nothing here writes to a bucket: the deploy step is a plan.
//!
//! To add a check, write a `fn(&mut Check) -> Result<()>` and add it to `CHECK_STEPS`.
use super::dbt::{annotate_failure, run_compile, tell};
use super::deploy::{plan_mwaa, request};
use super::detect::detect;
use super::env_path;
use crate::cli::{DetectArgs, EventKind};
use crate::config::Config;
use crate::dbt::{CompileOptions, Settings};
use crate::deploy;
use crate::detect::Status;
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::git::Git;
use crate::github::api::{CommentAction, GitHubApi};
use crate::github::comment::{compose, marker};
use crate::github::event::RunContext;
use crate::github::summary::append_summary;
use crate::github::workflow::{Level, announce};
use crate::platform::mwaa::{ArtifactAction, UpdateOutcome};
use crate::report::{
    DetectReport, escape_markdown, render_compile_markdown, render_dag_diff_markdown, render_dags_markdown,
    render_detect_markdown, render_impact_markdown, render_mwaa_markdown, render_plan_markdown,
};

/// What the check needs, all plain values.
pub(super) struct CheckSetup<'a> {
    pub git: &'a Git,
    pub config: &'a Config,
    pub runtime: &'a tokio::runtime::Runtime,
    /// The branch the pull request targets.
    pub base_ref: String,
    /// The environment to check against instead of the one the base branch deploys to.
    pub environment: Option<String>,
    /// Compile the whole dbt project, even when the environment has state.
    pub full: bool,
    pub allow_deletes: Option<usize>,
}

/// The state the steps share and fill in.
pub(super) struct Check<'a> {
    pub setup: CheckSetup<'a>,
    /// The environment checked against, if any deploys from the base branch.
    pub environment: Option<String>,
    /// Set by the detect step; later steps read it.
    pub changes: Option<DetectReport>,
    /// Set by the dbt step; the impact step reads it.
    pub compile: Option<crate::dbt::CompileReport>,
    pub outputs: CheckOutputs,
}

/// What the check produced: step outputs and Markdown sections, in step order.
#[derive(Default)]
pub(super) struct CheckOutputs {
    pub values: Vec<(String, String)>,
    pub sections: Vec<String>,
    /// The comment's heading.
    pub title: String,
}

type Step = fn(&mut Check) -> Result<()>;

/// The check's steps, in order. The plan comes before dbt: dbt writes its target folder into the project, which
/// may live under the DAGs folder, and the plan must show the pull request's files, not the check's by-products.
const CHECK_STEPS: &[(&str, Step)] = &[
    ("detect", detect_step),
    ("deploy plan", plan_step),
    ("DAG check", dags_step),
    ("dbt compile", dbt_step),
    ("impact", impact_step),
];

/// Runs every step; returns what they produced and the first failure.
pub(super) fn run(setup: CheckSetup) -> (CheckOutputs, Result<ExitCode>) {
    let environment = setup.environment.clone().or_else(|| {
        let found = setup.config.environment_for_branch(&setup.base_ref).map(str::to_string);
        if found.is_none() {
            announce(
                Level::Notice,
                &format!(
                    "no environment deploys from `{}`: the dbt compile and the deploy plan are skipped",
                    setup.base_ref
                ),
            );
        }
        found
    });
    let mut check = Check { setup, environment, changes: None, compile: None, outputs: CheckOutputs::default() };
    let mut first_error = None;
    for (name, step) in CHECK_STEPS {
        eprintln!("== {name}");
        if let Err(err) = step(&mut check) {
            announce(Level::Error, &format!("{name} failed: {err}"));
            check.outputs.sections.push(format!(
                "### ❌ {name} failed\n\n```\n{}\n```\n",
                crate::error::render(&err).replace("```", "'''")
            ));
            first_error.get_or_insert(err);
        }
    }
    check.outputs.values.extend([
        ("environment".to_string(), check.environment.clone().unwrap_or_default()),
        ("deployed".to_string(), "false".to_string()),
        ("deployed_environments".to_string(), "[]".to_string()),
    ]);
    let mut outputs = check.outputs;
    let summary = outputs.sections.join("\n");
    if let Err(err) = env_path("GITHUB_STEP_SUMMARY").map_or(Ok(()), |file| append_summary(&file, &summary)) {
        first_error.get_or_insert(err);
    }
    outputs.title = match &check.environment {
        Some(environment) => format!("dagship: check against `{}`", escape_markdown(environment)),
        None => "dagship: check".to_string(),
    };
    (outputs, first_error.map_or(Ok(ExitCode::Ok), Err))
}

/// Changed files, filters and the job matrix.
fn detect_step(check: &mut Check) -> Result<()> {
    let args = DetectArgs {
        event: Some(EventKind::PullRequest),
        base_ref: Some(check.setup.base_ref.clone()),
        ..super::ci::detect_args()
    };
    let (report, range) = detect(check.setup.git, check.setup.config, &args)?;
    eprintln!("{} changed file(s) {}", report.files.len(), range.description);
    check.outputs.values.extend(report.outputs());
    check.outputs.sections.push(render_detect_markdown(&report, &range.description));
    check.changes = Some(report);
    Ok(())
}

/// The pull request's changed DAG files imported with the repository's Python + Airflow (`dagship dags check`).
fn dags_step(check: &mut Check) -> Result<()> {
    let config = check.setup.config;
    let Some(changes) = &check.changes else { return Ok(()) };
    if !config.dags_check.pull_requests {
        return Ok(());
    }
    let dags_dir = format!("{}/", config.dags_dir.trim_end_matches('/'));
    let changed: Vec<String> = changes
        .files
        .iter()
        .filter(|file| file.status != Status::Deleted && file.path.starts_with(&dags_dir) && file.path.ends_with(".py"))
        .map(|file| file.path.clone())
        .collect();
    if changed.is_empty() {
        eprintln!("no DAG file changed under {dags_dir}: DAG check skipped");
        let deleted = changes.files.iter().any(|file| file.path.starts_with(&dags_dir) && file.path.ends_with(".py"));
        if deleted {
            dag_diff(check, None);
        }
        return Ok(());
    }
    let report = match crate::dags::check(check.setup.git.root(), config, Some(&changed)) {
        Ok(report) => report,
        Err(err) => {
            crate::dags::annotate_failure(&err);
            // A check that could not run (no Airflow, a failed install) is a failed check, never a pass.
            check.outputs.values.push(("dags_ok".to_string(), "false".to_string()));
            return Err(err.into());
        }
    };
    crate::dags::annotate_report(&report);
    check
        .outputs
        .values
        .extend(super::dags::outputs(&report).into_iter().map(|(name, value)| (name.to_string(), value)));
    check.outputs.sections.push(render_dags_markdown(&report));
    let collisions = dag_diff(check, Some(&report));
    if report.ok && collisions == 0 {
        Ok(())
    } else {
        let failed = report.summary.import_errors + report.duplicates.len() + collisions;
        Err(crate::dags::DagsError::Failed(failed).into())
    }
}

/// The DAG ids added, removed and changed compared with the base commit: outputs `dags_added`, `dags_removed`
/// and a section. A diff that cannot be made is a warning (the DAG check itself decides); an added id another
/// file already defines is an error annotation, counted in the returned number.
fn dag_diff(check: &mut Check, head: Option<&crate::dags::DagsReport>) -> usize {
    let Some(changes) = &check.changes else { return 0 };
    let root = check.setup.git.root();
    match crate::dags::diff(root, check.setup.config, &changes.base, &changes.files, head) {
        Ok(diff) => {
            let ids = |dags: &[crate::dags::DagAt]| {
                let ids: Vec<&str> = dags.iter().map(|dag| dag.dag_id.as_str()).collect();
                serde_json::to_string(&ids).expect("ids serialize")
            };
            check.outputs.values.push(("dags_added".to_string(), ids(&diff.added)));
            check.outputs.values.push(("dags_removed".to_string(), ids(&diff.removed)));
            check.outputs.sections.push(render_dag_diff_markdown(&diff));
            for collision in &diff.collisions {
                for site in &collision.files {
                    crate::github::workflow::annotate(
                        Level::Error,
                        Some(&site.path),
                        site.line,
                        &format!("DAG id `{}` is defined by more than one file", collision.dag_id),
                    );
                }
            }
            diff.collisions.len()
        }
        Err(err) => {
            announce(Level::Warning, &format!("cannot compare the DAG ids with the base commit: {err}"));
            0
        }
    }
}

/// dbt compile of the changed models against the environment's state, when the dbt project changed.
fn dbt_step(check: &mut Check) -> Result<()> {
    let none = |check: &mut Check| {
        check.outputs.values.extend([
            ("dbt_changed".to_string(), "false".to_string()),
            ("modified_models".to_string(), "[]".to_string()),
            ("downstream_models".to_string(), "[]".to_string()),
            ("deleted_models".to_string(), "[]".to_string()),
        ]);
    };
    let (Some(dbt), Some(environment), Some(changes)) =
        (&check.setup.config.dbt, check.environment.clone(), &check.changes)
    else {
        none(check);
        return Ok(());
    };
    let project = format!("{}/", dbt.project_dir.trim_end_matches('/'));
    let touched = changes.files.iter().any(|file| {
        file.path.starts_with(&project) || file.old_path.as_deref().is_some_and(|old| old.starts_with(&project))
    });
    if !touched && !check.setup.full {
        eprintln!("no change under {project}: dbt compile skipped");
        none(check);
        return Ok(());
    }
    let root = check.setup.git.root();
    let settings = Settings::resolve(root, check.setup.config, &environment)?;
    let options = CompileOptions { full: check.setup.full, skip_checks: false };
    let report = run_compile(root, check.setup.config, &settings, options).inspect_err(annotate_failure)?;
    tell(&report);
    check
        .outputs
        .values
        .extend(super::dbt::compile_outputs(&report).into_iter().map(|(name, value)| (name.to_string(), value)));
    check.outputs.sections.push(render_compile_markdown(&report));
    check.compile = Some(report);
    Ok(())
}

/// The DAGs and tasks that run the compile's modified and downstream models (src/impact).
fn impact_step(check: &mut Check) -> Result<()> {
    let run = check.compile.as_ref().filter(|_| check.setup.config.dags_check.pull_requests);
    let Some(compile) = run else {
        check.outputs.values.push(("impacted_dags".to_string(), "[]".to_string()));
        return Ok(());
    };
    let result = crate::impact::assess(check.setup.git.root(), check.setup.config, compile);
    let impact = result.inspect_err(|_| check.outputs.values.push(("impacted_dags".to_string(), "[]".to_string())))?;
    let ids = serde_json::to_string(&impact.dag_ids()).expect("ids serialize");
    check.outputs.values.push(("impacted_dags".to_string(), ids));
    if impact.dbt_dags > 0 || !impact.modified.is_empty() {
        check.outputs.sections.push(render_impact_markdown(&impact));
    }
    Ok(())
}

/// What a deploy of this pull request's tree to the environment would do. A read of the bucket, never a write.
fn plan_step(check: &mut Check) -> Result<()> {
    let Some(environment) = check.environment.clone() else { return Ok(()) };
    let root = check.setup.git.root();
    let source = deploy::stage_source(root, check.setup.config, &environment, None)?;
    let mut request = request(root, check.setup.config, &environment, check.setup.allow_deletes);
    request.source = Some(&source);
    let prepared = check.setup.runtime.block_on(deploy::prepare(&request))?;
    let plan = &prepared.plan;
    // On MWAA, plugins.zip, requirements and the startup script change through an environment update, not the
    // mirror: a plugins-only pull request must not show an empty plan.
    let mwaa = plan_mwaa(check.setup.runtime, &request);
    let mwaa_uploads = mwaa.as_ref().map_or(0, |mwaa| {
        mwaa.artifacts.iter().filter(|artifact| artifact.action == ArtifactAction::WouldUpload).count()
    });
    check.outputs.values.extend([
        ("plan_uploads".to_string(), (plan.summary.uploads + plan.summary.replacements + mwaa_uploads).to_string()),
        ("plan_deletions".to_string(), plan.summary.deletions.to_string()),
    ]);
    check.outputs.sections.push(render_plan_markdown(plan));
    if let Some(mwaa) = &mwaa {
        check.outputs.values.push(("mwaa_update".to_string(), (mwaa.update == UpdateOutcome::WouldUpdate).to_string()));
        check.outputs.sections.push(render_mwaa_markdown(mwaa));
    }
    if plan.refusals.is_empty() {
        Ok(())
    } else {
        Err(Error::Refused(format!(
            "a deploy of this pull request to {environment} would be refused: {}",
            plan.refusals.join("; ")
        )))
    }
}

/// `dagship ci` with `command: detect`: the detect outputs and summary only.
pub(super) fn detect_only(git: &Git, config: &Config, args: &DetectArgs) -> Result<Vec<(String, String)>> {
    let (report, range) = detect(git, config, args)?;
    let mut stdout = Vec::new();
    report.write_json(&mut stdout).expect("writing to memory works");
    super::print_stdout(&String::from_utf8_lossy(&stdout))?;
    if let Some(file) = env_path("GITHUB_STEP_SUMMARY") {
        append_summary(&file, &render_detect_markdown(&report, &range.description))?;
    }
    Ok(report.outputs())
}

/// Creates or updates the sticky comment; a failure is a warning, never a failed check.
pub(super) fn post_comment(
    runtime: &tokio::runtime::Runtime,
    github: &GitHubApi,
    number: u64,
    config_label: &str,
    outputs: &CheckOutputs,
    context: &RunContext,
) {
    let marker = marker(config_label);
    let body = compose(&marker, &outputs.title, &outputs.sections, context.run_url.as_deref());
    match runtime.block_on(github.upsert_comment(number, &marker, &body)) {
        Ok(CommentAction::Created) => eprintln!("commented on pull request #{number}"),
        Ok(CommentAction::Updated) => eprintln!("updated the comment on pull request #{number}"),
        Err(err) => announce(Level::Warning, &format!("could not comment on pull request #{number}: {err}")),
    }
}
