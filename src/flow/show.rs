//! Show, then act: a deploy prints its whole plan before the first write, and on a terminal asks before it deletes
//! anything. The engine calls this at those moments (`deploy::Review`); everything about how the plan is shown
//! and who is asked is decided here, once, for `deploy`, `rollback` and `ci`.
use std::collections::BTreeSet;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Mutex;

use crate::deploy::{DeployError, Plan, Review};
use crate::report::render_plan_text;

/// How a deploy shows its plan and whether it asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Show {
    /// Where the plan goes before the writes: stdout (text output), or stderr and only when asking (JSON output,
    /// whose stdout is the report alone).
    pub plan_on_stdout: bool,
    pub confirm: Confirm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// Never ask (`--yes`, `ci`).
    Never,
    /// Ask when the plan deletes anything, if stdin is a terminal and the run is not in CI.
    OnDeletions,
}

impl Default for Show {
    /// `ci`'s: the plan in the log before the writes, no question.
    fn default() -> Self {
        Show { plan_on_stdout: true, confirm: Confirm::Never }
    }
}

impl Show {
    /// `deploy`'s and `rollback`'s: the plan on stdout before the writes in text output (JSON output keeps stdout
    /// for the report), and on a terminal a question before deleting unless `--yes`.
    pub fn for_cli(text_output: bool, yes: bool) -> Show {
        Show { plan_on_stdout: text_output, confirm: if yes { Confirm::Never } else { Confirm::OnDeletions } }
    }
}

/// Whether this run can ask a person: stdin is a terminal and no CI system runs it (`CI=true`, as GitHub
/// Actions, GitLab and most others set, or `GITHUB_ACTIONS=true`).
fn interactive() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|value| !value.is_empty() && value != "false" && value != "0");
    std::io::stdin().is_terminal() && !set("CI") && !crate::notice::in_actions()
}

/// The engine's `Review` for one environment's deploy.
pub struct Reviewer {
    show: Show,
    /// The deletions a person confirmed, once asked: a plan under the lock deleting anything else is refused.
    confirmed: Mutex<Option<BTreeSet<String>>>,
}

impl Reviewer {
    pub fn new(show: Show) -> Reviewer {
        Reviewer { show, confirmed: Mutex::new(None) }
    }

    fn print(&self, text: &str, asking: bool) {
        if self.show.plan_on_stdout {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
        } else if asking {
            eprint!("{text}");
        }
    }
}

fn deletions(plan: &Plan) -> BTreeSet<String> {
    plan.phases.iter().flat_map(|phase| phase.deletions.iter().map(|change| change.key.clone())).collect()
}

impl Review for Reviewer {
    fn before_writes(&self, plan: &Plan, dry_run: bool) -> Result<(), DeployError> {
        let ask = !dry_run && self.show.confirm == Confirm::OnDeletions && plan.summary.deletions > 0 && interactive();
        self.print(&render_plan_text(plan), ask);
        if !ask {
            return Ok(());
        }
        let question = format!(
            "deploy to {} deletes {} from {}. Go on? [y/N] ",
            plan.environment,
            crate::plural::plural(plan.summary.deletions, "object"),
            plan.bucket
        );
        if !confirmed(&question) {
            return Err(DeployError::Refused(vec![format!(
                "not confirmed at the prompt: nothing written to {}. Pass --yes to deploy without asking",
                plan.environment
            )]));
        }
        *self.confirmed.lock().expect("not poisoned") = Some(deletions(plan));
        Ok(())
    }

    fn replanned(&self, plan: &Plan) -> Result<(), DeployError> {
        self.print(
            &format!(
                "the bucket changed while the deploy waited for the lock (another deploy?); the plan is now:\n{}",
                render_plan_text(plan)
            ),
            true,
        );
        let Some(confirmed) = self.confirmed.lock().expect("not poisoned").clone() else { return Ok(()) };
        let unconfirmed: Vec<String> = deletions(plan).difference(&confirmed).cloned().collect();
        if unconfirmed.is_empty() {
            return Ok(());
        }
        Err(DeployError::Refused(vec![format!(
            "the plan made under the lock deletes {} that were not confirmed: {}. Nothing written; run \
             the deploy again to review the new plan",
            crate::plural::plural(unconfirmed.len(), "object"),
            crate::deploy::listed(&unconfirmed)
        )]))
    }
}

/// Asks on stderr and reads one line from stdin: `y` or `yes` (any case) goes on; anything else, an empty line
/// or the end of input does not.
fn confirmed(question: &str) -> bool {
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// A refused deploy's one message (main prints it once, as the run's error): every reason, each naming what it
/// refused.
pub fn refusal(environment: &str, reasons: &[String]) -> crate::error::Error {
    let text = match reasons {
        [reason] => format!("refusing to deploy to {environment} (nothing written): {reason}"),
        reasons => format!(
            "refusing to deploy to {environment} (nothing written), for {} reasons:\n{}",
            reasons.len(),
            reasons.iter().map(|reason| format!("  - {reason}")).collect::<Vec<_>>().join("\n")
        ),
    };
    crate::error::Error::Refused(text)
}

/// A plan without the dbt state phase says so, where a deploy would publish it: otherwise a plan of 13 uploads
/// meets a deploy of 17 with no word why.
pub fn say_dbt_state_left_out(config: &crate::config::Config, environment: &str) {
    let publishes = config.environments.get(environment).is_some_and(|settings| settings.dbt_target.is_some());
    if let (true, Some(prefix)) = (publishes, crate::deploy::dbt_state_prefix(config)) {
        crate::notice::announce(
            crate::notice::Level::Notice,
            &format!(
                "this plan leaves out the dbt state phase (`{prefix}`), which a deploy builds with dbt and \
                 publishes: `--dbt-artifacts build` (runs dbt) or `existing` (the target folder) plans it too"
            ),
        );
    }
}
