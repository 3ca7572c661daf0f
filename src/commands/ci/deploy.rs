//! The deploy flow of `dagship ci` (a push to a mapped branch, a manual run): detect for the outputs, then each
//! environment in chain order through the same `flow::deploy::deploy_one` as `dagship deploy`, each wrapped in a
//! GitHub Deployment whose statuses go in_progress, then success or failure. The first failure stops the chain.
use crate::deploy::DeployReport;
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::flow::deploy::{DeployRequest, announce_chain_stop, deploy_one};
use crate::flow::detect::{DetectRequest, detect};
use crate::github::api::{DeploymentState, GitHubApi};
use crate::github::edges::Edges;
use crate::github::event::RunContext;
use crate::notice::{Level, announce};
use crate::report::outputs::{self, Outputs};
use crate::report::{render_deploy_markdown, render_deploy_outcome, render_detect_markdown};
use crate::workspace::Workspace;

/// What to deploy, decided by `ci` from the event.
pub(super) struct DeployChain<'a> {
    pub workspace: &'a Workspace,
    pub runtime: &'a tokio::runtime::Runtime,
    pub edges: &'a Edges,
    /// In order: each after the ones it names in `after`.
    pub environments: Vec<String>,
    pub detect: DetectRequest,
    pub dry_run: bool,
    pub allow_deletes: Option<usize>,
}

/// Runs the deploys; returns the step outputs (also for a failed run: what was deployed before the failure).
pub(super) fn run(plan: DeployChain, github: Option<&GitHubApi>, context: &RunContext) -> (Outputs, Result<ExitCode>) {
    let mut values = Vec::new();
    let mut reports: Vec<DeployReport> = Vec::new();
    let result = deploy_all(&plan, github, context, &mut values, &mut reports);
    values.extend(outputs::environment(&plan.environments.join(",")));
    values.extend(outputs::deploys(&reports));
    values.extend(outputs::deploy_compiles_nothing());
    (values, result.map(|()| ExitCode::Ok))
}

fn deploy_all(
    plan: &DeployChain,
    github: Option<&GitHubApi>,
    context: &RunContext,
    values: &mut Outputs,
    reports: &mut Vec<DeployReport>,
) -> Result<()> {
    let (changes, range) = detect(plan.workspace, &plan.detect)?;
    eprintln!("{} {}", crate::plural::plural(changes.files.len(), "changed file"), range.description);
    values.extend(outputs::detect(&changes));
    let edges = plan.edges;
    edges.summary(&render_detect_markdown(&changes, &range.description))?;
    for (position, environment) in plan.environments.iter().enumerate() {
        eprintln!("== deploy to {environment}{}", if plan.dry_run { " (dry run)" } else { "" });
        let request = DeployRequest::new(environment, plan.dry_run, plan.allow_deletes);
        let deployment = github.and_then(|github| start_deployment(plan.runtime, github, context, environment));
        let result = deploy_one(plan.runtime, plan.workspace, &request, edges);
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
                edges.print(&render_deploy_outcome(&report))?;
                edges.summary(&render_deploy_markdown(&report))?;
                reports.push(report);
            }
            // Written, then the verify failed: the outputs say what was deployed, the exit says the failure.
            Err(Error::AfterDeploy { report, source }) => {
                edges.print(&render_deploy_outcome(&report))?;
                edges.summary(&render_deploy_markdown(&report))?;
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
