//! Deploying a commit that the deployed one descends from puts older code back: named in the plan, warned about
//! by a laptop deploy, refused by `ci` (which goes back only through `rollback`).
use std::path::Path;

use super::{Marker, OlderCommit, Plan};
use crate::notice::{Level, announce};

/// The deployed commit, when `commit` is an ancestor of it (and not it).
pub(super) fn older_than(repo_root: &Path, marker: Option<&Marker>, commit: &str) -> Option<String> {
    let deployed = marker.map(|marker| marker.commit.as_str()).filter(|deployed| *deployed != commit)?;
    let git = crate::git::Git::discover(repo_root).ok()?;
    git.is_ancestor(commit, deployed).unwrap_or(false).then(|| deployed.to_string())
}

/// Deploying a commit that the deployed one descends from puts older code in place: a laptop deploy warns, `ci`
/// refuses (an older commit goes back through `dagship rollback`, which the ledger records as one), a rollback
/// says so. Returns the refusal, if any.
pub(super) fn check_older(plan: &Plan, policy: OlderCommit) -> Option<String> {
    let deployed = plan.older_than_deployed.as_deref()?;
    let what = format!("commit {} is an ancestor of the deployed commit {deployed}", plan.commit);
    match policy {
        OlderCommit::Warn => {
            announce(Level::Warning, &format!("deploying {what}: this rolls the environment back to older code"));
            None
        }
        OlderCommit::Rollback => {
            announce(Level::Notice, &format!("rolling back: {what}"));
            None
        }
        OlderCommit::Refuse => Some(format!(
            "{what}: a CI deploy does not put older code in place silently. Use `dagship rollback` (or the action's \
             `rollback-to` input) to go back on purpose"
        )),
    }
}
