//! The post-deploy check of a deploy: Airflow's own view of the DAG files this deploy wrote.
use std::time::SystemTime;

use crate::config::{Environment, VerifyConfig};
use crate::deploy::{DeployReport, Phase};
use crate::error::{Error, Result};
use crate::github::edges::Edges;
use crate::notice::{Level, annotate, announce};
use crate::platform::PlatformError;
use crate::platform::airflow::{self, VerifyReport};
use crate::report::{code_span, escape_markdown};
use crate::workspace::Workspace;

/// Asks Airflow about the DAG files `report` uploaded or replaced; import errors become annotations and a
/// failed step (exit 1). Files Airflow did not parse in time are warnings: the deploy itself worked.
pub fn verify_deploy(
    runtime: &tokio::runtime::Runtime,
    workspace: &Workspace,
    environment: &Environment,
    settings: &VerifyConfig,
    report: &DeployReport,
    started: SystemTime,
    edges: &Edges,
) -> Result<()> {
    let config = &workspace.config;
    let written = report
        .plan
        .phases
        .iter()
        .filter(|phase| phase.phase == Phase::Dags)
        .flat_map(|phase| phase.uploads.iter().chain(&phase.replacements).map(move |change| (phase, change)))
        .filter_map(|(phase, change)| change.key.strip_prefix(phase.prefix.as_str()).map(str::to_string));
    let dags_root = workspace.root.join(&config.dags_dir);
    let files = airflow::dag_files(&dags_root, written);
    if files.is_empty() {
        eprintln!("verify: no DAG file changed on {}; nothing to ask Airflow", report.environment);
        return Ok(());
    }
    let verified = runtime.block_on(async {
        let mut transport = airflow::transport(settings, environment).await?;
        airflow::verify(&mut transport, settings, &files, started).await
    });
    let verified = verified.map_err(Error::Verify)?;
    let dags_dir = config.dags_dir.trim_end_matches('/');
    for error in &verified.import_errors {
        let last_line = error.stack_trace.lines().rev().find(|line| !line.trim().is_empty()).unwrap_or("import error");
        annotate(
            Level::Error,
            Some(&format!("{dags_dir}/{}", error.file)),
            error.line,
            &format!("Airflow on {} cannot import this DAG file: {last_line}", report.environment),
        );
    }
    for file in &verified.not_parsed {
        announce(
            Level::Warning,
            &format!("Airflow on {} had not parsed {dags_dir}/{file} within verify.timeout", report.environment),
        );
    }
    eprintln!(
        "verify: {} parsed, {} with import errors, {} not parsed in time",
        crate::plural::plural(verified.parsed.len(), "file"),
        verified.import_errors.len(),
        verified.not_parsed.len()
    );
    edges.summary(&render_markdown(&report.environment, dags_dir, &verified))?;
    if verified.import_errors.is_empty() {
        return Ok(());
    }
    let files: Vec<&str> = verified.import_errors.iter().map(|error| error.file.as_str()).collect();
    Err(Error::Verify(PlatformError::ChecksFailed(format!(
        "Airflow on {} reports import errors in {}: {}",
        report.environment,
        crate::plural::plural(files.len(), "deployed DAG file"),
        files.join(", ")
    ))))
}

fn render_markdown(environment: &str, dags_dir: &str, report: &VerifyReport) -> String {
    let mut markdown =
        format!("#### Airflow on {}\n\n| file | result |\n| --- | --- |\n", escape_markdown(environment));
    for (file, dag_ids) in &report.parsed {
        markdown.push_str(&format!(
            "| {} | parsed: {} |\n",
            code_span(&format!("{dags_dir}/{file}")),
            escape_markdown(&dag_ids.join(", "))
        ));
    }
    for error in &report.import_errors {
        markdown.push_str(&format!("| {} | **import error** |\n", code_span(&format!("{dags_dir}/{}", error.file))));
    }
    for file in &report.not_parsed {
        markdown.push_str(&format!("| {} | not parsed in time |\n", code_span(&format!("{dags_dir}/{file}"))));
    }
    markdown
}
