//! What `dagship ci` does for each GitHub event and action: one table, read by `ci` to pick its flow and by the
//! README (a unit test keeps the README's copy equal to `render_markdown()`). Every event GitHub documents as a
//! workflow trigger has a row; an event missing here (a new one) gets the last row: skip, never deploy.
//!
//! The rules that matter most: code from a pull request (or a fork, or a run a pull request triggered) never
//! deploys; a merge queue runs the check (a required check must not pass the queue by skipping); a run whose
//! checkout cannot be what it claims to check (`pull_request_target`'s base checkout) is refused, not passed.

/// What `command: auto` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auto {
    /// The pull request check (detect, plan, DAG check, dbt compile); the sticky comment when there is a PR.
    Check,
    /// The check when the base branch changed (the payload's `changes.base`), else skip: a new title or body
    /// changes no file.
    CheckIfBaseChanged,
    /// Deploy the chain of the pushed branch (a tag, a deleted or unmapped branch: skip).
    DeployPushedBranch,
    /// Deploy the chosen environment, when the run's branch is one it deploys from (or the override is set).
    DeployChosen,
    /// Refused (exit 3) whatever the command: the run cannot check what it claims to.
    Refuse,
    /// A notice, `mode=skip`, exit 0; `command: detect` or `command: deploy` run anyway (as the row allows).
    Skip,
}

/// Whether the event may write to a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deploy {
    /// Never, whatever the inputs: asked to (`command: deploy`, `dry-run: false`), exit 3 before anything remote.
    Never,
    /// Never when the run that triggered it came from a pull request event or a fork; otherwise as `OnRequest`.
    NotFromPullRequest,
    /// Only with `command: deploy` and an `environment` the run's branch deploys to (or the override input).
    OnRequest,
    /// By the event itself, with `command: auto`.
    ByEvent,
}

/// One row: an event and the actions it covers.
#[derive(Debug)]
pub struct Rule {
    pub event: &'static str,
    /// The actions of this row; empty: every other action of the event (and a payload without `action`
    /// takes the event's first row).
    pub actions: &'static [&'static str],
    pub auto: Auto,
    pub deploy: Deploy,
    pub why: &'static str,
}

const fn row(
    event: &'static str,
    actions: &'static [&'static str],
    auto: Auto,
    deploy: Deploy,
    why: &'static str,
) -> Rule {
    Rule { event, actions, auto, deploy, why }
}

use Auto::*;
use Deploy::*;

/// Events that run the pull request's code or act for an outsider never deploy; events only people with write
/// access can start (a push, a manual run, a schedule, an API dispatch, a release) may.
pub const RULES: &[Rule] = &[
    row(
        "pull_request",
        &["opened", "synchronize", "reopened", "ready_for_review"],
        Check,
        Never,
        "new or changed code: check it",
    ),
    row("pull_request", &["edited"], CheckIfBaseChanged, Never, "only a new base branch changes what to check"),
    row(
        "pull_request",
        &[],
        Skip,
        Never,
        "closed, labeled, unlabeled, assigned, unassigned, review_requested, review_request_removed, \
         converted_to_draft, locked, unlocked, milestoned, demilestoned, auto_merge_*, enqueued, dequeued: \
         the code did not change (a merged pull request deploys through its `push`)",
    ),
    row(
        "pull_request_target",
        &[],
        Refuse,
        Never,
        "its default checkout is the base branch (0 changed files) and checking out the head would run the pull \
         request's code with the base's secrets: use `pull_request`",
    ),
    row("pull_request_review", &[], Skip, Never, "a review changes no code"),
    row("pull_request_review_comment", &[], Skip, Never, "a comment changes no code"),
    row(
        "merge_group",
        &["checks_requested"],
        Check,
        Never,
        "the queue's merge commit is checked against its base branch, no comment (no pull request)",
    ),
    row("merge_group", &[], Skip, Never, "nothing to check"),
    row(
        "push",
        &[],
        DeployPushedBranch,
        ByEvent,
        "a branch in some environment's `branches` deploys that chain in `after` order",
    ),
    row(
        "workflow_dispatch",
        &[],
        DeployChosen,
        ByEvent,
        "only write access can start it; the branch gate keeps `feature` out of `prod`",
    ),
    row(
        "workflow_run",
        &[],
        Skip,
        NotFromPullRequest,
        "the checkout is the default branch; a run triggered by a pull request, a fork or another `workflow_run` never deploys",
    ),
    row("issue_comment", &[], Skip, Never, "anyone can comment, on any pull request"),
    row("schedule", &[], Skip, OnRequest, "the default branch, started by the repository"),
    row("repository_dispatch", &[], Skip, OnRequest, "started through the API with write access"),
    row("release", &[], Skip, OnRequest, "a tag: deploys only with the branch override"),
    row("deployment", &[], Skip, OnRequest, "created through the API with write access"),
    row("create", &[], Skip, OnRequest, "a new branch or tag: its `push` deploys it"),
    row("workflow_call", &[], Skip, Never, "a called workflow sees its caller's event; this name never reaches a step"),
    row("branch_protection_rule", &[], Skip, Never, "no code to check or deploy"),
    row("check_run", &[], Skip, Never, "no code to check or deploy"),
    row("check_suite", &[], Skip, Never, "no code to check or deploy"),
    row("delete", &[], Skip, Never, "the branch or tag is gone"),
    row("deployment_status", &[], Skip, Never, "reports on a deployment; never starts one"),
    row("discussion", &[], Skip, Never, "anyone can start it"),
    row("discussion_comment", &[], Skip, Never, "anyone can start it"),
    row("fork", &[], Skip, Never, "anyone can start it"),
    row("gollum", &[], Skip, Never, "a wiki edit"),
    row("issues", &[], Skip, Never, "anyone can start it"),
    row("label", &[], Skip, Never, "no code to check or deploy"),
    row("milestone", &[], Skip, Never, "no code to check or deploy"),
    row("page_build", &[], Skip, Never, "no code to check or deploy"),
    row("project", &[], Skip, Never, "no code to check or deploy"),
    row("project_card", &[], Skip, Never, "no code to check or deploy"),
    row("project_column", &[], Skip, Never, "no code to check or deploy"),
    row("public", &[], Skip, Never, "no code to check or deploy"),
    row("registry_package", &[], Skip, Never, "no code to check or deploy"),
    row("status", &[], Skip, Never, "anyone's CI can set a status"),
    row("watch", &[], Skip, Never, "anyone can star a repository"),
    row("*", &[], Skip, Never, "an event dagship does not know: fail closed"),
];

/// The row for `event` and its payload's `action`.
pub fn rule(event: &str, action: Option<&str>) -> &'static Rule {
    let rows = || RULES.iter().filter(|rule| rule.event == event);
    let found = match action {
        None => rows().next(),
        Some(action) => {
            rows().find(|rule| rule.actions.contains(&action)).or_else(|| rows().find(|rule| rule.actions.is_empty()))
        }
    };
    found.unwrap_or_else(|| RULES.last().expect("the table ends with the catch-all row"))
}

impl Auto {
    fn describe(self) -> &'static str {
        match self {
            Check => "check",
            CheckIfBaseChanged => "check if the base changed, else skip",
            DeployPushedBranch => "deploy the branch's chain",
            DeployChosen => "deploy `environment` (branch gate)",
            Refuse => "refused (exit 3)",
            Skip => "skip",
        }
    }
}

impl Deploy {
    fn describe(self) -> &'static str {
        match self {
            Never => "never (exit 3)",
            NotFromPullRequest => "`command: deploy` unless triggered by a pull request or fork",
            OnRequest => "`command: deploy` (branch gate)",
            ByEvent => "yes, unless `dry-run: true`",
        }
    }
}

/// The table as Markdown, exactly as the README shows it.
pub fn render_markdown() -> String {
    let mut text =
        String::from("| event | actions | `command: auto` | deploys | why |\n| --- | --- | --- | --- | --- |\n");
    for rule in RULES {
        let event = if rule.event == "*" { "any other".to_string() } else { format!("`{}`", rule.event) };
        let actions = if rule.actions.is_empty() {
            if RULES.iter().any(|other| other.event == rule.event && !other.actions.is_empty()) {
                "any other".to_string()
            } else {
                "any".to_string()
            }
        } else {
            rule.actions.iter().map(|action| format!("`{action}`")).collect::<Vec<_>>().join(", ")
        };
        text.push_str(&format!(
            "| {event} | {actions} | {} | {} | {} |\n",
            rule.auto.describe(),
            rule.deploy.describe(),
            rule.why
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_request_code_and_outsiders_never_deploy() {
        for event in [
            "pull_request",
            "pull_request_target",
            "pull_request_review",
            "pull_request_review_comment",
            "merge_group",
            "issue_comment",
            "issues",
            "discussion_comment",
            "fork",
            "watch",
            "status",
            "something_new",
        ] {
            for action in [None, Some("opened"), Some("closed"), Some("created"), Some("checks_requested")] {
                assert_eq!(rule(event, action).deploy, Never, "{event} {action:?}");
            }
        }
        assert_eq!(rule("workflow_run", Some("completed")).deploy, NotFromPullRequest);
    }

    #[test]
    fn a_merge_queue_is_checked_never_skipped() {
        assert_eq!(rule("merge_group", Some("checks_requested")).auto, Check);
        assert_eq!(rule("merge_group", None).auto, Check);
    }

    #[test]
    fn pull_request_actions_that_change_no_code_are_not_checked_again() {
        for action in ["opened", "synchronize", "reopened", "ready_for_review"] {
            assert_eq!(rule("pull_request", Some(action)).auto, Check, "{action}");
        }
        assert_eq!(rule("pull_request", Some("edited")).auto, CheckIfBaseChanged);
        for action in ["closed", "labeled", "unlabeled", "assigned", "converted_to_draft", "auto_merge_enabled"] {
            assert_eq!(rule("pull_request", Some(action)).auto, Skip, "{action}");
        }
        // A hand-made payload without `action` is checked, the safe side for a required check.
        assert_eq!(rule("pull_request", None).auto, Check);
        assert_eq!(rule("pull_request_target", Some("opened")).auto, Refuse);
    }

    #[test]
    fn every_documented_trigger_has_its_own_row() {
        let documented = [
            "branch_protection_rule",
            "check_run",
            "check_suite",
            "create",
            "delete",
            "deployment",
            "deployment_status",
            "discussion",
            "discussion_comment",
            "fork",
            "gollum",
            "issue_comment",
            "issues",
            "label",
            "merge_group",
            "milestone",
            "page_build",
            "project",
            "project_card",
            "project_column",
            "public",
            "pull_request",
            "pull_request_review",
            "pull_request_review_comment",
            "pull_request_target",
            "push",
            "registry_package",
            "release",
            "repository_dispatch",
            "schedule",
            "status",
            "watch",
            "workflow_call",
            "workflow_dispatch",
            "workflow_run",
        ];
        for event in documented {
            assert_eq!(rule(event, Some("any")).event, event, "{event} falls to the catch-all row");
        }
        assert_eq!(rule("brand_new_event", None).event, "*");
    }

    #[test]
    fn the_readme_shows_this_table() {
        let readme = include_str!("../../README.md");
        assert!(
            readme.contains(&render_markdown()),
            "README.md's event table differs from the code; paste this:\n{}",
            render_markdown()
        );
    }
}
