//! The deploy's caller sees the plan before the first write, and again when the plan made under the lock is not
//! the one it saw (another deploy changed the bucket meanwhile); either time it may stop the deploy. The engine
//! decides when; the caller (src/flow/show.rs) decides how to show and whether to ask.
use std::collections::BTreeSet;

use super::DeployError;
use super::plan::Plan;

pub trait Review: Send + Sync {
    /// The plan, before anything is written (for a dry run too, which then writes nothing).
    fn before_writes(&self, plan: &Plan, dry_run: bool) -> Result<(), DeployError>;
    /// The plan made again under the lock, when its changes differ from the one shown.
    fn replanned(&self, plan: &Plan) -> Result<(), DeployError>;
}

/// Every write a plan makes, as (action, key): two plans with the same set write the same objects.
pub fn writes(plan: &Plan) -> BTreeSet<(char, &str)> {
    let mut writes = BTreeSet::new();
    for phase in &plan.phases {
        writes.extend(phase.uploads.iter().chain(&phase.replacements).map(|change| ('+', change.key.as_str())));
        writes.extend(phase.deletions.iter().map(|change| ('-', change.key.as_str())));
    }
    writes
}
