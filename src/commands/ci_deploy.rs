//! The deploy flow of `dagship ci` (a push to a mapped branch, a manual run): detect for the outputs, then each
//! environment in chain order through the same `deploy_one` as `dagship deploy`, each wrapped in a GitHub
//! Deployment whose statuses go in_progress, then success or failure. The first failure stops the chain.
use super::deploy::{announce_chain_stop, append_deploy_summary, deploy_one, render_deploy_text};
use super::detect::detect;
use super::{env_path, print_stdout};
use crate::cli::{DbtArtifacts, DeployArgs, DetectArgs, OutputFormat};
use crate::config::Config;
use crate::deploy::DeployReport;
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::git::Git;
use crate::github::api::{DeploymentState, GitHubApi};
use crate::github::event::RunContext;
use crate::github::summary::append_summary;
use crate::github::workflow::{Level, announce};
use crate::report::render_detect_markdown;

/// What to deploy, decided by `ci` from the event.
pub(super) struct DeployPlan<'a> {
    pub git: &'a Git,
    pub config: &'a Config,
    pub runtime: &'a tokio::runtime::Runtime,
    /// In order: each after the ones it names in `after`.
    pub environments: Vec<String>,
    pub detect: DetectArgs,
    pub dry_run: bool,
    pub allow_deletes: Option<usize>,
}

/// Runs the deploys; returns the step outputs (also for a failed run: what was deployed before the failure).
pub(super) fn run(
    plan: DeployPlan,
    github: Option<&GitHubApi>,
    context: &RunContext,
) -> (Vec<(String, String)>, Result<ExitCode>) {
    let mut outputs = Vec::new();
    let mut reports: Vec<DeployReport> = Vec::new();
    let result = deploy_all(&plan, github, context, &mut outputs, &mut reports);
    outputs.push(("environment".to_string(), plan.environments.join(",")));
    outputs.extend(super::deploy::deploy_outputs(&reports));
    outputs.extend([
        // A deploy runs no pull request check: dbt is built for the artifacts, not selected by change.
        ("dbt_changed".to_string(), "false".to_string()),
        ("modified_models".to_string(), "[]".to_string()),
        ("downstream_models".to_string(), "[]".to_string()),
    ]);
    (outputs, result.map(|()| ExitCode::Ok))
}

fn deploy_all(
    plan: &DeployPlan,
    github: Option<&GitHubApi>,
    context: &RunContext,
    outputs: &mut Vec<(String, String)>,
    reports: &mut Vec<DeployReport>,
) -> Result<()> {
    let (changes, range) = detect(plan.git, plan.config, &plan.detect)?;
    eprintln!("{} changed file(s) {}", changes.files.len(), range.description);
    outputs.extend(changes.outputs());
    let summary_file = env_path("GITHUB_STEP_SUMMARY");
    if let Some(file) = &summary_file {
        append_summary(file, &render_detect_markdown(&changes, &range.description))?;
    }
    let root = plan.git.root();
    for (position, environment) in plan.environments.iter().enumerate() {
        eprintln!("== deploy to {environment}{}", if plan.dry_run { " (dry run)" } else { "" });
        let args = DeployArgs {
            env: Some(environment.clone()),
            branch: None,
            dry_run: plan.dry_run,
            allow_dirty: false,
            allow_deletes: plan.allow_deletes,
            concurrency: None,
            lock_timeout: None,
            dbt_artifacts: DbtArtifacts::Build,
            format: OutputFormat::Text,
        };
        let deployment = github.and_then(|github| start_deployment(plan.runtime, github, context, environment));
        let result = deploy_one(plan.runtime, root, plan.config, environment, &args);
        if let (Some(github), Some(id)) = (github, deployment) {
            let (state, description) = match &result {
                Ok(report) if report.up_to_date => (DeploymentState::Success, "up to date: nothing written".into()),
                Ok(report) => (DeploymentState::Success, format!("deployed {}", short(&report.commit))),
                Err(err) => (DeploymentState::Failure, err.to_string()),
            };
            set_status(plan.runtime, github, context, id, state, &description);
        }
        match result {
            Ok(report) => {
                print_stdout(&render_deploy_text(&report))?;
                if let Some(file) = &summary_file {
                    append_deploy_summary(file, &report)?;
                }
                reports.push(report);
            }
            // Written, then the verify failed: the outputs say what was deployed, the exit says the failure.
            Err(Error::AfterDeploy { report, source }) => {
                print_stdout(&render_deploy_text(&report))?;
                if let Some(file) = &summary_file {
                    append_deploy_summary(file, &report)?;
                }
                reports.push(*report);
                announce_chain_stop(environment, &plan.environments[position + 1..]);
                return Err(*source);
            }
            Err(err) => {
                announce_chain_stop(environment, &plan.environments[position + 1..]);
                return Err(err);
            }
        }
    }
    Ok(())
}

/// Creates the GitHub Deployment and marks it in progress; None (with a warning) when GitHub refuses.
fn start_deployment(
    runtime: &tokio::runtime::Runtime,
    github: &GitHubApi,
    context: &RunContext,
    environment: &str,
) -> Option<u64> {
    let description = format!("dagship deploy to {environment}");
    match runtime.block_on(github.create_deployment(&context.sha, environment, &description)) {
        Ok(id) => {
            set_status(runtime, github, context, id, DeploymentState::InProgress, "deploying");
            Some(id)
        }
        Err(err) => {
            announce(Level::Warning, &format!("could not create a GitHub deployment for {environment}: {err}"));
            None
        }
    }
}

fn set_status(
    runtime: &tokio::runtime::Runtime,
    github: &GitHubApi,
    context: &RunContext,
    id: u64,
    state: DeploymentState,
    description: &str,
) {
    let sent = runtime.block_on(github.set_deployment_status(id, state, context.run_url.as_deref(), description));
    if let Err(err) = sent {
        announce(Level::Warning, &format!("could not update GitHub deployment {id}: {err}"));
    }
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}
