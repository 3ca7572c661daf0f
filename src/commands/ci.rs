//! `dagship ci`, the GitHub Action's entry point: reads the run (event, payload, inputs), picks the flow and
//! calls the same functions the other commands use. The GitHub specifics stop here: the flows below get plain
//! values (a base branch, a `before` commit, environment names), never the payload.
//!
//! Which flow each event and action gets is decided by the table in `github::event_rules` (also in the README):
//! the check (ci_check.rs) for pull requests and merge queues, a deploy (ci_deploy.rs) for pushes to mapped
//! branches and manual runs, a notice and exit 0 for the rest; refused (exit 3) where the table says so.
use super::ci_check::{self, CheckSetup};
use super::ci_deploy::{self, DeployPlan};
use super::{config_path, load_config, runtime, write_step_outputs};
use crate::cli::{Cli, DetectArgs, EventKind, OutputFormat};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::git::Git;
use crate::github::api::GitHubApi;
use crate::github::event::{self, CiCommand, Push, RefTarget, RunContext, Trigger};
use crate::github::event_rules::{self, Auto, Deploy, Rule};
use crate::github::workflow::{Level, announce, escape_controls, mask};

/// What this run does, decided from the event and the inputs before anything is read from a bucket.
enum Flow {
    /// A pull request (`number`) or a merge queue group (no comment).
    Check {
        number: Option<u64>,
        base_ref: String,
    },
    Deploy {
        environments: Vec<String>,
        detect: DetectArgs,
        dry_run: bool,
    },
    Detect(DetectArgs),
    /// A manual run with the `rollback-to` input: `dagship rollback` for one environment.
    Rollback {
        environment: String,
        to: Option<String>,
        dry_run: bool,
    },
    Skip(String),
}

pub fn run(cli: &Cli) -> Result<ExitCode> {
    let context = event::from_env()?;
    // Registered before anything else is printed: every later log line has the token masked.
    if let Some(token) = &context.token {
        mask(token);
    }
    let rule = event_rules::rule(&context.event_name, context.action.as_deref());
    refuse_by_event(&context, rule)?;

    let git = Git::discover(&cli.repo)?;
    let config_file = context.inputs.config.clone().or_else(|| cli.config.clone());
    let config_file = match config_file {
        Some(path) => path,
        None => config_path(cli, Some(&git)),
    };
    let config = load_config(&config_file)?.config;

    let flow = choose_flow(&context, rule, &config)?;
    let runtime = runtime()?;
    let mode = match &flow {
        Flow::Check { .. } => "check",
        Flow::Deploy { .. } => "deploy",
        Flow::Detect(_) => "detect",
        Flow::Rollback { .. } => "rollback",
        Flow::Skip(_) => "skip",
    };
    eprintln!("dagship ci: {} event, mode {mode}", context.event_name);
    match flow {
        Flow::Skip(reason) => {
            announce(Level::Notice, &reason);
            write_step_outputs(&[("mode", mode.to_string()), ("deployed", "false".into())])?;
            Ok(ExitCode::Ok)
        }
        Flow::Detect(args) => {
            let outputs = ci_check::detect_only(&git, &config, &args)?;
            write_step_outputs(&with_mode(outputs, mode))?;
            Ok(ExitCode::Ok)
        }
        Flow::Check { number, base_ref } => {
            // A merge queue group has no pull request to comment on.
            let github = number.and_then(|_| github_api(&context, &runtime));
            let setup = CheckSetup {
                git: &git,
                config: &config,
                runtime: &runtime,
                base_ref,
                environment: context.inputs.environment.clone(),
                full: context.inputs.full,
                allow_deletes: context.inputs.allow_deletes,
            };
            let (outputs, result) = ci_check::run(setup);
            write_step_outputs(&with_mode(outputs.values.clone(), mode))?;
            if let (Some(github), Some(number)) = (&github, number) {
                // Relative to the repository, so the marker is the same on every runner.
                let label = config_file.strip_prefix(git.root()).unwrap_or(&config_file).to_string_lossy();
                ci_check::post_comment(&runtime, github, number, &label, &outputs, &context);
            }
            result
        }
        Flow::Rollback { environment, to, dry_run } => {
            let args = crate::cli::RollbackArgs {
                env: environment,
                to,
                dry_run,
                allow_deletes: context.inputs.allow_deletes,
                overwrite_drift: false,
                lock_timeout: None,
                format: crate::cli::OutputFormat::Text,
            };
            let report = super::history::rollback_one(&runtime, git.root(), Some(&git), &config, &args)?;
            super::print_stdout(&super::deploy::render_deploy_text(&report))?;
            if let Some(file) = super::env_path("GITHUB_STEP_SUMMARY") {
                super::deploy::append_deploy_summary(&file, &report)?;
            }
            let outputs = super::deploy::deploy_outputs(std::slice::from_ref(&report));
            write_step_outputs(&with_mode(outputs, mode))?;
            Ok(ExitCode::Ok)
        }
        Flow::Deploy { environments, detect, dry_run } => {
            let github = if dry_run { None } else { github_api(&context, &runtime) };
            let plan = DeployPlan {
                git: &git,
                config: &config,
                runtime: &runtime,
                environments,
                detect,
                dry_run,
                allow_deletes: context.inputs.allow_deletes,
            };
            let (outputs, result) = ci_deploy::run(plan, github.as_ref(), &context);
            write_step_outputs(&with_mode(outputs, mode))?;
            result
        }
    }
}

/// Refuses, before the config is even read (so nothing remote can happen), what the event table forbids: a deploy
/// asked for on an event that never deploys (pull request code, forks, outsiders' events, a run a pull request
/// triggered), and any run of an event the table refuses outright.
fn refuse_by_event(context: &RunContext, rule: &Rule) -> Result<()> {
    let forbidden = match rule.deploy {
        Deploy::Never => true,
        Deploy::NotFromPullRequest => triggered_by_untrusted_code(context),
        Deploy::OnRequest | Deploy::ByEvent => false,
    };
    if forbidden && context.inputs.ask_for_deploy() {
        let origin = match &context.trigger {
            Trigger::PullRequest { from_fork: true, .. } => " (a pull request from a fork)".to_string(),
            Trigger::PullRequest { .. } => " (a pull request)".to_string(),
            Trigger::WorkflowRun { triggering_event, from_fork, .. } => format!(
                " (triggered by a `{}` run{})",
                triggering_event.as_deref().unwrap_or("unknown"),
                if *from_fork { " from a fork" } else { "" }
            ),
            _ => String::new(),
        };
        return Err(Error::Refused(format!(
            "refusing to deploy on a `{}` event{origin}: {}. Remove `command: deploy` / `dry-run: false` from this \
             step, and deploy from a `push` or `workflow_dispatch` workflow instead",
            context.event_name, rule.why
        )));
    }
    if rule.auto == Auto::Refuse {
        return Err(Error::Refused(format!("refusing to run on a `{}` event: {}", context.event_name, rule.why)));
    }
    Ok(())
}

/// A `workflow_run` that followed a pull request's run, a fork's, another `workflow_run`, or one whose origin the
/// payload does not say.
fn triggered_by_untrusted_code(context: &RunContext) -> bool {
    match &context.trigger {
        Trigger::WorkflowRun { triggering_event, from_fork, .. } => {
            *from_fork
                || triggering_event
                    .as_deref()
                    // A run of a run (workflow_run chains) cannot tell where the first one came from: untrusted.
                    .is_none_or(|event| {
                        !matches!(event_rules::rule(event, None).deploy, Deploy::OnRequest | Deploy::ByEvent)
                    })
        }
        _ => true,
    }
}

fn choose_flow(context: &RunContext, rule: &Rule, config: &Config) -> Result<Flow> {
    let inputs = &context.inputs;
    let command = inputs.command.unwrap_or(CiCommand::Auto);
    let flow = match (&context.trigger, command) {
        (Trigger::PullRequest { base_ref, .. } | Trigger::MergeGroup { base_ref }, CiCommand::Detect) => {
            Flow::Detect(DetectArgs {
                event: Some(EventKind::PullRequest),
                base_ref: Some(base_ref.clone()),
                ..detect_args()
            })
        }
        (Trigger::PullRequest { base_changed: false, .. }, _) if rule.auto == Auto::CheckIfBaseChanged => Flow::Skip(
            format!("a `{}` pull request that kept its base branch changes no file: nothing to check", action(context)),
        ),
        (Trigger::PullRequest { .. }, _) if rule.auto == Auto::Skip => Flow::Skip(format!(
            "a `{}` `{}` event: {}; not checked again",
            context.event_name,
            action(context),
            rule.why
        )),
        (Trigger::PullRequest { number, base_ref, .. }, _) => {
            if let Some(environment) = &inputs.environment {
                known(config, environment)?;
            }
            Flow::Check { number: Some(*number), base_ref: base_ref.clone() }
        }
        (Trigger::MergeGroup { .. }, _) if rule.auto == Auto::Skip => {
            Flow::Skip(format!("a `merge_group` `{}` event: {}", action(context), rule.why))
        }
        (Trigger::MergeGroup { base_ref }, _) => {
            if let Some(environment) = &inputs.environment {
                known(config, environment)?;
            }
            Flow::Check { number: None, base_ref: base_ref.clone() }
        }
        (Trigger::Push(push), _) => push_flow(push, command, context, config)?,
        (Trigger::Dispatch { .. }, CiCommand::Detect) => Flow::Detect(manual_detect(inputs, None)),
        (Trigger::Dispatch { branch }, _) if inputs.rollback_to.is_some() => {
            let Some(environment) = &inputs.environment else {
                return Err(Error::Usage(
                    "the `rollback-to` input needs the environment to roll back: set the `environment` input".into(),
                ));
            };
            let to = inputs.rollback_to.clone().filter(|to| to != "previous");
            Flow::Rollback {
                environment: gated(config, environment, branch.as_deref(), context)?,
                to,
                dry_run: inputs.dry_run.unwrap_or(false),
            }
        }
        (Trigger::Dispatch { branch }, _) => {
            let environments = match (&inputs.environment, branch) {
                (Some(environment), _) => vec![gated(config, environment, branch.as_deref(), context)?],
                (None, Some(branch)) => config.deploy_chain(branch),
                (None, None) => Vec::new(),
            };
            if environments.is_empty() {
                return Err(Error::Usage(format!(
                    "a manual run needs an environment: set the action's `environment` input (or a \
                     workflow_dispatch input named `environment`){}",
                    branch
                        .as_ref()
                        .map(|b| format!("; no environment deploys from branch `{}`", escape_controls(b)))
                        .unwrap_or_default()
                )));
            }
            Flow::Deploy {
                detect: manual_detect(inputs, Some(&environments[0])),
                dry_run: inputs.dry_run.unwrap_or(false),
                environments,
            }
        }
        (Trigger::WorkflowRun { .. } | Trigger::Other { .. }, CiCommand::Detect) => {
            Flow::Detect(DetectArgs { all: true, ..detect_args() })
        }
        (Trigger::WorkflowRun { .. } | Trigger::Other { .. }, CiCommand::Deploy) => match &inputs.environment {
            Some(environment) => {
                let branch = match &context.trigger {
                    Trigger::Other { branch } | Trigger::WorkflowRun { branch, .. } => branch.as_deref(),
                    _ => None,
                };
                let environment = gated(config, environment, branch, context)?;
                Flow::Deploy {
                    detect: manual_detect(inputs, Some(&environment)),
                    dry_run: inputs.dry_run.unwrap_or(false),
                    environments: vec![environment],
                }
            }
            None => {
                return Err(Error::Usage(format!(
                    "`command: deploy` on a `{}` event needs the `environment` input",
                    context.event_name
                )));
            }
        },
        (Trigger::WorkflowRun { .. } | Trigger::Other { .. }, CiCommand::Auto) => Flow::Skip(format!(
            "dagship ci has nothing to do for a `{}` event ({}): it checks pull requests and merge queues, deploys \
             pushes to mapped branches and manual runs (see the README's event table)",
            context.event_name, rule.why
        )),
    };
    Ok(flow)
}

fn action(context: &RunContext) -> &str {
    context.action.as_deref().unwrap_or("(no action)")
}

/// The environment a manual (or `command: deploy`) run asks for, when the run's branch deploys to it: `branches`
/// (and the `after` chain they start) decide which code reaches an environment, a manual run included. Another
/// branch, or a tag, needs the documented override `allow-any-branch: true`.
fn gated(config: &Config, environment: &str, branch: Option<&str>, context: &RunContext) -> Result<String> {
    let environment = known(config, environment)?;
    let allowed = branch.is_some_and(|branch| config.deploy_chain(branch).contains(&environment));
    if allowed {
        return Ok(environment);
    }
    let on = match branch {
        Some(branch) => format!("branch `{}`", escape_controls(branch)),
        None => "a tag or detached ref".to_string(),
    };
    if context.inputs.allow_any_branch {
        announce(
            Level::Warning,
            &format!(
                "deploying {environment} from {on}, which it does not deploy from: `allow-any-branch: true` is set"
            ),
        );
        return Ok(environment);
    }
    let branches = config.environment(&environment).map(|env| env.branches.join(", ")).unwrap_or_default();
    Err(Error::Refused(format!(
        "refusing to deploy {environment} from {on}: {environment} deploys from {}. Run the workflow on one of \
         those branches, or set the input `allow-any-branch: true` to deploy this ref anyway",
        if branches.is_empty() { "no branch (`branches` is empty)".to_string() } else { format!("[{branches}]") }
    )))
}

fn push_flow(push: &Push, command: CiCommand, context: &RunContext, config: &Config) -> Result<Flow> {
    let branch = match &push.target {
        RefTarget::Tag(tag) if command != CiCommand::Detect => {
            return Ok(Flow::Skip(format!("a push of tag `{tag}`: tags do not deploy; nothing to do")));
        }
        RefTarget::Tag(_) => None,
        RefTarget::Branch(_) if push.deleted => {
            return Ok(Flow::Skip("the push deleted the branch: nothing to check or deploy".into()));
        }
        RefTarget::Branch(branch) => Some(branch.clone()),
    };
    let detect = DetectArgs {
        event: Some(EventKind::Push),
        before: Some(push.before.clone()),
        forced: push.forced,
        default_branch: push.default_branch.clone(),
        all: context.inputs.full,
        ..detect_args()
    };
    let detect = if detect.all { DetectArgs { event: None, before: None, ..detect } } else { detect };
    let Some(branch) = branch.filter(|_| command != CiCommand::Detect) else { return Ok(Flow::Detect(detect)) };
    let chain = config.deploy_chain(&branch);
    let environments = match &context.inputs.environment {
        // A job per GitHub environment (with its protection rules) deploys one link of the chain.
        Some(environment) if chain.contains(environment) => vec![environment.clone()],
        Some(environment) => {
            return Err(Error::Usage(format!(
                "the `environment` input is `{environment}`, but a push to `{branch}` deploys {}: name one of \
                 them, or leave the input empty to deploy the whole chain",
                if chain.is_empty() { "no environment".to_string() } else { chain.join(", ") }
            )));
        }
        None => chain,
    };
    if environments.is_empty() {
        return Ok(Flow::Skip(format!(
            "no environment deploys from branch `{branch}` (no `branches: [{branch}]` in dagship.yml): nothing to \
             deploy"
        )));
    }
    Ok(Flow::Deploy { environments, detect, dry_run: context.inputs.dry_run.unwrap_or(false) })
}

/// A manual run counts its changes since the environment's last deploy (its marker), or all of them.
fn manual_detect(inputs: &event::Inputs, environment: Option<&String>) -> DetectArgs {
    match environment {
        Some(environment) if !inputs.full => DetectArgs { since_deploy: Some(environment.clone()), ..detect_args() },
        _ => DetectArgs { all: true, ..detect_args() },
    }
}

fn known(config: &Config, environment: &str) -> Result<String> {
    config.environment(environment).map_err(|message| Error::Usage(format!("input `environment`: {message}")))?;
    Ok(environment.to_string())
}

/// Detect's flags with nothing set: the flows fill in what their event gives.
pub(super) fn detect_args() -> DetectArgs {
    DetectArgs {
        base: None,
        head: None,
        merge_base: false,
        event: None,
        base_ref: None,
        before: None,
        forced: false,
        default_branch: None,
        remote: "origin".into(),
        no_fetch: false,
        all: false,
        since_deploy: None,
        format: OutputFormat::Json,
    }
}

fn with_mode(mut outputs: Vec<(String, String)>, mode: &str) -> Vec<(String, String)> {
    outputs.push(("mode".into(), mode.into()));
    outputs
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
