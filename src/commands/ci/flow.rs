//! Which flow a `dagship ci` run gets, decided from the event, its inputs and the config before anything is read
//! from a bucket: the check (check.rs) for pull requests and merge queues, a deploy (deploy.rs) for pushes to
//! mapped branches and manual runs, detect only when asked, a notice and exit 0 for the rest; refused (exit 3)
//! where the table in `github::event_rules` (also in the README) says so. Pure decisions: unit-tested below.
use crate::config::Config;
use crate::detect::range::RangeRequest;
use crate::error::{Error, Result};
use crate::flow::detect::{DetectRequest, Since};
use crate::github::event::{self, CiCommand, Push, RefTarget, RunContext, Trigger};
use crate::github::event_rules::{Auto, Deploy, Rule};
use crate::notice::{Level, announce, escape_controls};

/// What this run does, decided from the event and the inputs before anything is read from a bucket.
#[derive(Debug)]
pub enum Flow {
    /// A pull request (`number`) or a merge queue group (no comment).
    Check {
        number: Option<u64>,
        base_ref: String,
    },
    Deploy {
        environments: Vec<String>,
        detect: DetectRequest,
        dry_run: bool,
    },
    Detect(DetectRequest),
    Skip(String),
}

/// Refuses, before the config is even read (so nothing remote can happen), what the event table forbids: a deploy
/// asked for on an event that never deploys (pull request code, forks, outsiders' events, a run a pull request
/// triggered), and any run of an event the table refuses outright.
pub fn refuse_by_event(context: &RunContext, rule: &Rule) -> Result<()> {
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
                        !matches!(
                            crate::github::event_rules::rule(event, None).deploy,
                            Deploy::OnRequest | Deploy::ByEvent
                        )
                    })
        }
        _ => true,
    }
}

pub fn choose_flow(context: &RunContext, rule: &Rule, config: &Config) -> Result<Flow> {
    let inputs = &context.inputs;
    let command = inputs.command.unwrap_or(CiCommand::Auto);
    let flow = match (&context.trigger, command) {
        (Trigger::PullRequest { base_ref, .. } | Trigger::MergeGroup { base_ref }, CiCommand::Detect) => {
            Flow::Detect(pull_request_detect(base_ref))
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
            Flow::Detect(DetectRequest::everything())
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
    let detect = if context.inputs.full {
        DetectRequest { default_branch: push.default_branch.clone(), ..DetectRequest::everything() }
    } else {
        let range = RangeRequest::Push { before: push.before.clone(), head: "HEAD".into(), forced: push.forced };
        DetectRequest { default_branch: push.default_branch.clone(), ..DetectRequest::new(Since::Range(range)) }
    };
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
fn manual_detect(inputs: &event::Inputs, environment: Option<&String>) -> DetectRequest {
    match environment {
        Some(environment) if !inputs.full => {
            DetectRequest::new(Since::LastDeploy { environment: environment.clone(), head: "HEAD".into() })
        }
        _ => DetectRequest::everything(),
    }
}

/// A pull request's changes: from the merge-base with the branch it targets.
pub fn pull_request_detect(base_ref: &str) -> DetectRequest {
    DetectRequest::new(Since::Range(RangeRequest::PullRequest { base_ref: base_ref.to_string(), head: "HEAD".into() }))
}

fn known(config: &Config, environment: &str) -> Result<String> {
    config.environment(environment).map_err(|message| Error::Usage(format!("input `environment`: {message}")))?;
    Ok(environment.to_string())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::github::event::Inputs;
    use crate::github::event_rules::rule;

    const CONFIG: &str = "environments:\n  stg: { platform: local, bucket: file://stg, branches: [master] }\n  prod: { \
                          platform: local, bucket: file://prod, branches: [production], after: stg }\n";

    fn config() -> Config {
        crate::config::parse_str(CONFIG, Path::new("dagship.yml")).expect("the test config parses").config
    }

    fn context(event_name: &str, action: Option<&str>, trigger: Trigger, inputs: Inputs) -> RunContext {
        RunContext {
            event_name: event_name.into(),
            repository: "o/r".into(),
            sha: "0".repeat(40),
            api_url: "http://127.0.0.1:1".into(),
            run_url: None,
            token: None,
            action: action.map(str::to_string),
            inputs,
            trigger,
        }
    }

    fn flow_for(context: &RunContext) -> Result<Flow> {
        let rule = rule(&context.event_name, context.action.as_deref());
        refuse_by_event(context, rule)?;
        choose_flow(context, rule, &config())
    }

    fn push(branch: &str) -> Trigger {
        Trigger::Push(Push {
            target: RefTarget::Branch(branch.into()),
            before: "1".repeat(40),
            deleted: false,
            forced: false,
            default_branch: Some("master".into()),
        })
    }

    #[test]
    fn a_pull_request_gets_the_check_against_its_base_branch() {
        let trigger =
            Trigger::PullRequest { number: 7, base_ref: "master".into(), from_fork: false, base_changed: false };
        let flow = flow_for(&context("pull_request", Some("opened"), trigger, Inputs::default())).unwrap();
        assert!(matches!(flow, Flow::Check { number: Some(7), ref base_ref } if base_ref == "master"), "{flow:?}");
    }

    #[test]
    fn a_pull_request_asking_for_a_deploy_is_refused_before_anything_runs() {
        let trigger =
            Trigger::PullRequest { number: 7, base_ref: "master".into(), from_fork: true, base_changed: false };
        let inputs = Inputs { command: Some(CiCommand::Deploy), ..Inputs::default() };
        let err = flow_for(&context("pull_request", Some("opened"), trigger, inputs)).unwrap_err();
        assert!(matches!(err, Error::Refused(ref message) if message.contains("from a fork")), "{err}");
    }

    #[test]
    fn a_push_to_a_mapped_branch_deploys_its_chain_with_the_push_range() {
        let flow = flow_for(&context("push", None, push("production"), Inputs::default())).unwrap();
        let Flow::Deploy { environments, detect, dry_run } = flow else { panic!("not a deploy: {flow:?}") };
        assert_eq!(environments, ["stg", "prod"]);
        assert!(!dry_run);
        assert!(matches!(detect.since, Since::Range(RangeRequest::Push { .. })), "{detect:?}");
        assert_eq!(detect.default_branch.as_deref(), Some("master"));
    }

    #[test]
    fn a_push_to_an_unmapped_branch_or_of_a_tag_is_skipped() {
        let flow = flow_for(&context("push", None, push("feature"), Inputs::default())).unwrap();
        assert!(matches!(flow, Flow::Skip(ref reason) if reason.contains("feature")), "{flow:?}");
        let tag = Trigger::Push(Push {
            target: RefTarget::Tag("v1".into()),
            before: "1".repeat(40),
            deleted: false,
            forced: false,
            default_branch: None,
        });
        let flow = flow_for(&context("push", None, tag, Inputs::default())).unwrap();
        assert!(matches!(flow, Flow::Skip(ref reason) if reason.contains("tag")), "{flow:?}");
    }

    #[test]
    fn a_manual_run_deploys_since_the_environments_last_deploy() {
        let inputs = Inputs { environment: Some("stg".into()), ..Inputs::default() };
        let trigger = Trigger::Dispatch { branch: Some("master".into()) };
        let flow = flow_for(&context("workflow_dispatch", None, trigger, inputs)).unwrap();
        let Flow::Deploy { environments, detect, .. } = flow else { panic!("not a deploy: {flow:?}") };
        assert_eq!(environments, ["stg"]);
        assert!(matches!(detect.since, Since::LastDeploy { ref environment, .. } if environment == "stg"));
    }

    #[test]
    fn a_manual_run_from_a_branch_the_environment_does_not_deploy_is_refused() {
        let inputs = Inputs { environment: Some("prod".into()), ..Inputs::default() };
        let trigger = Trigger::Dispatch { branch: Some("master".into()) };
        let err = flow_for(&context("workflow_dispatch", None, trigger, inputs)).unwrap_err();
        assert!(matches!(err, Error::Refused(ref message) if message.contains("allow-any-branch")), "{err}");
    }

    #[test]
    fn a_manual_run_without_an_environment_is_a_usage_error() {
        let trigger = Trigger::Dispatch { branch: Some("feature".into()) };
        let err = flow_for(&context("workflow_dispatch", None, trigger, Inputs::default())).unwrap_err();
        assert!(matches!(err, Error::Usage(ref message) if message.contains("needs an environment")), "{err}");
    }
}
