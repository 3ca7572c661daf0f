//! The values of every report's step outputs, built in one place from the names in `output_keys`: a command
//! and `ci` that report the same thing write the same outputs.
use serde::Serialize;

use crate::dags::DagsReport;
use crate::dbt::CompileReport;
use crate::deploy::{DeployReport, Plan};
use crate::detect::report::DetectReport;
use crate::output_keys::*;
use crate::platform::mwaa::{ArtifactAction, MwaaReport, UpdateOutcome};
use crate::report::describe_state;

/// Step outputs in the order they are written: (name, value).
pub type Outputs = Vec<(String, String)>;

fn pairs<const N: usize>(values: [(&str, String); N]) -> Outputs {
    values.into_iter().map(|(name, value)| (name.to_string(), value)).collect()
}

/// Compact JSON for output values (one line, as `fromJSON` in a workflow expects).
fn compact_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("output values always serialize")
}

/// One boolean per filter, the list of changed filters, jobs, matrix and counts.
pub fn detect(report: &DetectReport) -> Outputs {
    let mut outputs: Outputs =
        report.filters.iter().map(|(name, result)| (name.clone(), result.changed.to_string())).collect();
    let changed: Vec<&String> =
        report.filters.iter().filter(|(_, result)| result.changed).map(|(name, _)| name).collect();
    outputs.extend(pairs([
        (CHANGES, compact_json(&changed)),
        (JOBS, compact_json(&report.jobs)),
        (MATRIX, compact_json(&report.matrix)),
        (HAS_JOBS, report.has_jobs.to_string()),
        (CHANGED_FILES_COUNT, report.files.len().to_string()),
        (BASE, report.base.clone()),
        (HEAD, report.head.clone()),
    ]));
    outputs
}

/// `dagship plan`: the counts and the whole plan as JSON.
pub fn plan(plan: &Plan) -> Outputs {
    pairs([
        (PLAN_UPLOADS, (plan.summary.uploads + plan.summary.replacements).to_string()),
        (PLAN_DELETIONS, plan.summary.deletions.to_string()),
        (PLAN_JSON, compact_json(plan)),
    ])
}

/// The pull request check's plan: MWAA artifacts that would change (plugins.zip, requirements, the startup
/// script) count as uploads, so a plugins-only pull request does not show an empty plan.
pub fn check_plan(plan: &Plan, mwaa: Option<&MwaaReport>) -> Outputs {
    let mwaa_uploads = mwaa.map_or(0, |mwaa| {
        mwaa.artifacts.iter().filter(|artifact| artifact.action == ArtifactAction::WouldUpload).count()
    });
    let mut outputs = pairs([
        (PLAN_UPLOADS, (plan.summary.uploads + plan.summary.replacements + mwaa_uploads).to_string()),
        (PLAN_DELETIONS, plan.summary.deletions.to_string()),
    ]);
    if let Some(mwaa) = mwaa {
        outputs.extend(pairs([(MWAA_UPDATE, (mwaa.update == UpdateOutcome::WouldUpdate).to_string())]));
    }
    outputs
}

/// A run of deploys (one per environment, in order), for `deploy` and `ci`.
pub fn deploys(reports: &[DeployReport]) -> Outputs {
    let written: Vec<&str> = reports
        .iter()
        .filter(|report| !report.dry_run && !report.up_to_date)
        .map(|report| report.environment.as_str())
        .collect();
    let sum = |count: fn(&DeployReport) -> usize| reports.iter().map(count).sum::<usize>().to_string();
    let mwaa_updated = reports.iter().any(|report| report.mwaa.as_ref().is_some_and(MwaaReport::updated));
    pairs([
        (DEPLOYED, (!written.is_empty()).to_string()),
        (DEPLOYED_ENVIRONMENTS, compact_json(&written)),
        (PLAN_UPLOADS, sum(|report| report.plan.summary.uploads + report.plan.summary.replacements)),
        (PLAN_DELETIONS, sum(|report| report.plan.summary.deletions)),
        (MWAA_UPDATED, mwaa_updated.to_string()),
    ])
}

/// `dagship drift`: whether the bucket drifted from the last deploy.
pub fn drift(drifted: bool) -> Outputs {
    pairs([(DRIFT, drifted.to_string())])
}

/// A run that deployed nothing (a check, a skip).
pub fn not_deployed() -> Outputs {
    pairs([(DEPLOYED, "false".into()), (DEPLOYED_ENVIRONMENTS, "[]".into())])
}

/// A dbt compile, the same from `dagship dbt compile` and `dagship ci`.
pub fn compile(report: &CompileReport) -> Outputs {
    let names = |models: &[crate::dbt::SelectedModel]| {
        compact_json(&models.iter().map(|model| model.name.as_str()).collect::<Vec<&str>>())
    };
    pairs([
        (DBT_CHANGED, report.dbt_changed.to_string()),
        (MODIFIED_MODELS, names(&report.modified_models)),
        (DOWNSTREAM_MODELS, names(&report.downstream_models)),
        (DELETED_MODELS, compact_json(&report.deleted_models)),
        (DBT_MODE, report.mode.name().into()),
        (DBT_STATE, describe_state(report)),
    ])
}

/// No dbt compile ran: nothing of the dbt project changed, or no environment to compile against.
pub fn not_compiled() -> Outputs {
    pairs([
        (DBT_CHANGED, "false".into()),
        (MODIFIED_MODELS, "[]".into()),
        (DOWNSTREAM_MODELS, "[]".into()),
        (DELETED_MODELS, "[]".into()),
    ])
}

/// A deploy runs no pull request check: dbt is built for the artifacts, not selected by change.
pub fn deploy_compiles_nothing() -> Outputs {
    pairs([(DBT_CHANGED, "false".into()), (MODIFIED_MODELS, "[]".into()), (DOWNSTREAM_MODELS, "[]".into())])
}

/// The pull request check's impact: the DAG ids running a modified or downstream model (empty when not assessed).
pub fn impact(impact: Option<&crate::impact::Impact>) -> Outputs {
    let ids = impact.map(|impact| impact.dag_ids()).unwrap_or_default();
    pairs([(IMPACTED_DAGS, compact_json(&ids))])
}

/// The DAG ids a pull request adds and removes compared with its base.
pub fn dag_diff(diff: &crate::dags::DagDiff) -> Outputs {
    let ids =
        |dags: &[crate::dags::DagAt]| compact_json(&dags.iter().map(|dag| dag.dag_id.as_str()).collect::<Vec<&str>>());
    pairs([(DAGS_ADDED, ids(&diff.added)), (DAGS_REMOVED, ids(&diff.removed))])
}

/// A DAG check: dags_ok, dag_import_errors (a count) and dag_ids (a JSON list).
pub fn dags(report: &DagsReport) -> Outputs {
    pairs([
        (DAGS_OK, report.ok.to_string()),
        (DAG_IMPORT_ERRORS, report.summary.import_errors.to_string()),
        (DAG_IDS, compact_json(&report.dag_ids())),
    ])
}

/// A DAG check that could not run (no Airflow, a failed install): a failed check, never a pass.
pub fn dags_not_run() -> Outputs {
    pairs([(DAGS_OK, "false".into())])
}

/// Which flow `ci` ran: check, deploy, detect or skip.
pub fn mode(mode: &str) -> Outputs {
    pairs([(MODE, mode.into())])
}

/// The environment(s) `ci` checked against or deployed, comma-separated.
pub fn environment(environments: &str) -> Outputs {
    pairs([(ENVIRONMENT, environments.into())])
}
