//! `dagship ci`, the GitHub Action's entry point: reads the run (event, payload, inputs), picks the flow
//! (flow.rs) and runs it: the pull request check (check.rs) or the deploy chain (deploy.rs), through the same
//! stages as the other commands (`crate::flow`). The GitHub specifics stop here: the stages get plain requests
//! (a base branch, a `before` commit, environment names), never the payload.
mod check;
mod deploy;
mod flow;

use self::check::CheckSetup;
use self::deploy::DeployChain;
use self::flow::{Flow, choose_flow, refuse_by_event};
use crate::cli::Cli;
use crate::error::Result;
use crate::exit_code::ExitCode;
use crate::flow::detect::detect;
use crate::flow::history::RollbackRequest;
use crate::flow::runtime;
use crate::github::api::GitHubApi;
use crate::github::edges::Edges;
use crate::github::event::{self, RunContext};
use crate::notice::{Level, announce, mask};
use crate::report::{outputs, render_deploy_markdown, render_deploy_outcome, render_detect_markdown};
use crate::workspace::Workspace;

pub fn run(cli: &Cli) -> Result<ExitCode> {
    let context = event::from_env()?;
    // Registered before anything else is printed: every later log line has the token masked.
    if let Some(token) = &context.token {
        mask(token);
    }
    let rule = crate::github::event_rules::rule(&context.event_name, context.action.as_deref());
    refuse_by_event(&context, rule)?;

    let config_file = context.inputs.config.clone().or_else(|| cli.config.clone());
    let workspace = Workspace::open_repository(&cli.repo, config_file.as_deref(), true)?;

    let flow = choose_flow(&context, rule, &workspace.config)?;
    let runtime = runtime()?;
    let mode = match &flow {
        Flow::Check { .. } => "check",
        Flow::Deploy { .. } => "deploy",
        Flow::Detect(_) => "detect",
        Flow::Rollback { .. } => "rollback",
        Flow::Skip(_) => "skip",
    };
    eprintln!("dagship ci: {} event, mode {mode}", context.event_name);
    let edges = Edges::from_env();
    match flow {
        Flow::Skip(reason) => {
            announce(Level::Notice, &reason);
            let mut values = outputs::mode(mode);
            values.extend(outputs::not_deployed().into_iter().take(1));
            edges.outputs(&values)?;
            Ok(ExitCode::Ok)
        }
        Flow::Detect(request) => {
            let (report, range) = detect(&workspace, &request)?;
            edges.print_with(|out| report.write_json(&mut &mut *out))?;
            edges.summary(&render_detect_markdown(&report, &range.description))?;
            edges.outputs(&with_mode(outputs::detect(&report), mode))?;
            Ok(ExitCode::Ok)
        }
        Flow::Check { number, base_ref } => {
            // A merge queue group has no pull request to comment on.
            let github = number.and_then(|_| github_api(&context, &runtime));
            let setup = CheckSetup {
                workspace: &workspace,
                runtime: &runtime,
                edges: &edges,
                base_ref,
                environment: context.inputs.environment.clone(),
                full: context.inputs.full,
                allow_deletes: context.inputs.allow_deletes,
            };
            let (checked, result) = check::run(setup);
            edges.outputs(&with_mode(checked.values.clone(), mode))?;
            if let (Some(github), Some(number)) = (&github, number) {
                // Relative to the repository, so the marker is the same on every runner.
                let config_file = &workspace.config_file;
                let label = config_file.strip_prefix(&workspace.root).unwrap_or(config_file).to_string_lossy();
                check::post_comment(&runtime, github, number, &label, &checked, &context);
            }
            result
        }
        Flow::Rollback { environment, to, dry_run } => {
            let request = RollbackRequest {
                environment,
                to,
                dry_run,
                allow_deletes: context.inputs.allow_deletes,
                overwrite_drift: false,
                lock_timeout: None,
                show: Default::default(),
            };
            let report = crate::flow::history::rollback(&runtime, &workspace, &request, &edges)?;
            edges.print(&render_deploy_outcome(&report))?;
            edges.summary(&render_deploy_markdown(&report))?;
            edges.outputs(&with_mode(outputs::deploys(std::slice::from_ref(&report)), mode))?;
            Ok(ExitCode::Ok)
        }
        Flow::Deploy { environments, detect, dry_run } => {
            let github = if dry_run { None } else { github_api(&context, &runtime) };
            let chain = DeployChain {
                workspace: &workspace,
                runtime: &runtime,
                edges: &edges,
                environments,
                detect,
                dry_run,
                allow_deletes: context.inputs.allow_deletes,
            };
            let (values, result) = deploy::run(chain, github.as_ref(), &context);
            edges.outputs(&with_mode(values, mode))?;
            result
        }
    }
}

fn with_mode(mut values: outputs::Outputs, mode: &str) -> outputs::Outputs {
    values.extend(outputs::mode(mode));
    values
}

/// The API client when there is a token; without one (a laptop run) comments and deployments are skipped.
fn github_api(context: &RunContext, runtime: &tokio::runtime::Runtime) -> Option<GitHubApi> {
    let Some(token) = &context.token else {
        announce(Level::Notice, "no github-token input nor GITHUB_TOKEN: no pull request comment nor deployments");
        return None;
    };
    let _entered = runtime.enter();
    match GitHubApi::new(&context.api_url, token, &context.repository) {
        Ok(api) => Some(api),
        Err(err) => {
            announce(Level::Warning, &format!("cannot reach GitHub ({err}): no comment nor deployments"));
            None
        }
    }
}
