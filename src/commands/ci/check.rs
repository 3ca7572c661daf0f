//! The pull request check of `dagship ci`: a list of steps run in order against the environment the base branch
//! deploys to. Each step adds step outputs and a Markdown section (for the step summary and the sticky comment);
//! a step that fails is reported in its section and the later steps still run, so one comment shows every
//! problem. Nothing here writes to a bucket: the deploy step is a plan.
//!
//! To add a check, write a `fn(&mut Check) -> Result<()>` and add it to `CHECK_STEPS`.
use super::flow::pull_request_detect;
use crate::detect::Status;
use crate::detect::report::DetectReport;
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::flow::compile::{CompileRequest, compile};
use crate::flow::deploy::{PlanRequest, plan};
use crate::flow::detect::detect;
use crate::github::api::{CommentAction, GitHubApi};
use crate::github::comment::{compose, marker};
use crate::github::edges::Edges;
use crate::github::event::RunContext;
use crate::notice::{Level, announce};
use crate::report::outputs::{self, Outputs};
use crate::report::{
    escape_markdown, render_compile_markdown, render_dag_diff_markdown, render_dags_markdown, render_detect_markdown,
    render_impact_markdown, render_mwaa_markdown, render_plan_markdown, render_plan_tree_markdown,
};
use crate::workspace::Workspace;

/// What the check needs, all plain values.
pub(super) struct CheckSetup<'a> {
    pub workspace: &'a Workspace,
    pub runtime: &'a tokio::runtime::Runtime,
    pub edges: &'a Edges,
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
    pub values: Outputs,
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
        let found = setup.workspace.config.environment_for_branch(&setup.base_ref).map(str::to_string);
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
    check.outputs.values.extend(outputs::environment(check.environment.as_deref().unwrap_or_default()));
    check.outputs.values.extend(outputs::not_deployed());
    let mut checked = check.outputs;
    if let Err(err) = check.setup.edges.summary(&checked.sections.join("\n")) {
        first_error.get_or_insert(err.into());
    }
    checked.title = match &check.environment {
        Some(environment) => format!("dagship: check against `{}`", escape_markdown(environment)),
        None => "dagship: check".to_string(),
    };
    (checked, first_error.map_or(Ok(ExitCode::Ok), Err))
}

/// Changed files, filters and the job matrix.
fn detect_step(check: &mut Check) -> Result<()> {
    let (report, range) = detect(check.setup.workspace, &pull_request_detect(&check.setup.base_ref))?;
    eprintln!("{} {}", crate::plural::plural(report.files.len(), "changed file"), range.description);
    check.outputs.values.extend(outputs::detect(&report));
    check.outputs.sections.push(render_detect_markdown(&report, &range.description));
    check.changes = Some(report);
    Ok(())
}

/// The pull request's changed DAG files imported with the repository's Python + Airflow (`dagship dags check`).
fn dags_step(check: &mut Check) -> Result<()> {
    let workspace = check.setup.workspace;
    let config = &workspace.config;
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
    let report = match crate::dags::check(&workspace.root, config, Some(&changed)) {
        Ok(report) => report,
        Err(err) => {
            crate::dags::annotate_failure(&err);
            // A check that could not run (no Airflow, a failed install) is a failed check, never a pass.
            check.outputs.values.extend(outputs::dags_not_run());
            return Err(err.into());
        }
    };
    crate::dags::annotate_report(&report);
    check.outputs.values.extend(outputs::dags(&report));
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
    let workspace = check.setup.workspace;
    match crate::dags::diff(&workspace.root, &workspace.config, &changes.base, &changes.files, head) {
        Ok(mut diff) => {
            against_environment(check, head, &mut diff);
            check.outputs.values.extend(outputs::dag_diff(&diff));
            check.outputs.sections.push(render_dag_diff_markdown(&diff));
            for collision in &diff.collisions {
                for site in &collision.files {
                    crate::notice::annotate(
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

/// Re-bases the added and removed DAG ids on the environment when its last deploy record holds the DAG ids
/// of what it runs; otherwise they stay compared with the base commit (the section says which).
fn against_environment(check: &Check, head: Option<&crate::dags::DagsReport>, diff: &mut crate::dags::DagDiff) {
    let (Some(environment), Some(changes)) = (&check.environment, &check.changes) else { return };
    let workspace = check.setup.workspace;
    let records = match crate::flow::history::history(workspace, environment, 20) {
        Ok(records) => records,
        Err(err) => {
            announce(Level::Warning, &format!("cannot read {environment}'s deploy history: {err}"));
            return;
        }
    };
    let last = records.iter().find(|record| record.outcome == crate::deploy::ledger::Outcome::Deployed);
    let Some(record) = last.filter(|record| !record.dags.is_empty()) else { return };
    let head: std::collections::BTreeMap<String, Vec<String>> = head
        .iter()
        .flat_map(|report| &report.files)
        .filter(|file| file.status == crate::dags::FileStatus::Ok)
        .map(|file| (file.path.clone(), file.dag_ids.clone()))
        .collect();
    let deleted: Vec<String> = changes
        .files
        .iter()
        .filter_map(|file| match file.status {
            Status::Deleted => Some(file.path.clone()),
            _ => file.old_path.clone(),
        })
        .collect();
    crate::dags::against_deployed(diff, &record.id, &record.dags, &head, &deleted);
}

/// dbt compile of the changed models against the environment's state, when the dbt project changed.
fn dbt_step(check: &mut Check) -> Result<()> {
    let workspace = check.setup.workspace;
    let (Some(dbt), Some(environment), Some(changes)) =
        (&workspace.config.dbt, check.environment.clone(), &check.changes)
    else {
        check.outputs.values.extend(outputs::not_compiled());
        return Ok(());
    };
    let project = format!("{}/", dbt.project_dir.trim_end_matches('/'));
    let touched = changes.files.iter().any(|file| {
        file.path.starts_with(&project) || file.old_path.as_deref().is_some_and(|old| old.starts_with(&project))
    });
    if !touched && !check.setup.full {
        eprintln!("no change under {project}: dbt compile skipped");
        check.outputs.values.extend(outputs::not_compiled());
        return Ok(());
    }
    let report =
        compile(workspace, &CompileRequest { environment, full: check.setup.full, skip_checks: false, target: None })?;
    check.outputs.values.extend(outputs::compile(&report));
    check.outputs.sections.push(render_compile_markdown(&report));
    check.compile = Some(report);
    Ok(())
}

/// The DAGs and tasks that run the compile's modified and downstream models (src/impact).
fn impact_step(check: &mut Check) -> Result<()> {
    let workspace = check.setup.workspace;
    let run = check.compile.as_ref().filter(|_| workspace.config.dags_check.pull_requests);
    let Some(compile) = run else {
        check.outputs.values.extend(outputs::impact(None));
        return Ok(());
    };
    let result = crate::flow::impact::assess(&workspace.root, &workspace.config, compile);
    let impact = result.inspect_err(|_| check.outputs.values.extend(outputs::impact(None)))?;
    check.outputs.values.extend(outputs::impact(Some(&impact)));
    if impact.dbt_dags > 0 || !impact.modified.is_empty() {
        check.outputs.sections.push(render_impact_markdown(&impact));
    }
    Ok(())
}

/// What a deploy of this pull request's tree to the environment would do. A read of the bucket, never a write.
fn plan_step(check: &mut Check) -> Result<()> {
    let Some(environment) = check.environment.clone() else { return Ok(()) };
    let request = PlanRequest {
        environment,
        allow_deletes: check.setup.allow_deletes,
        allow_dirty: false,
        dbt_artifacts: None,
        overwrite_drift: false,
        dbt_target: None,
    };
    let planned = plan(check.setup.runtime, check.setup.workspace, &request)?;
    let plan = &planned.plan;
    check.outputs.values.extend(outputs::check_plan(plan, planned.mwaa.as_ref()));
    check.outputs.sections.push(format!("{}\n{}", render_plan_markdown(plan), render_plan_tree_markdown(plan)));
    if let Some(mwaa) = &planned.mwaa {
        check.outputs.sections.push(render_mwaa_markdown(mwaa));
    }
    if plan.refusals.is_empty() {
        Ok(())
    } else {
        Err(Error::Refused(format!(
            "a deploy of this pull request to {} would be refused: {}",
            request.environment,
            plan.refusals.join("; ")
        )))
    }
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
