//! What a deploy writes about itself besides the marker: its intent before the first object write, its ledger
//! record after the last (src/deploy/ledger.rs), and a record of a deploy stopped under the lock.
use super::ledger;
use super::{DeployError, DeployOptions, Marker, ObjectRecord, Plan, Request, Summary};
use crate::notice::{Level, announce};
use crate::store::Store;

/// What the deploy leaves under its mappings, said before its first object write.
pub(super) fn intent(id: &str, commit: &str, plan: &Plan) -> ledger::Intent {
    let mut objects = std::collections::BTreeMap::new();
    for phase in &plan.phases {
        objects.extend(phase.unchanged_objects.iter().map(|(key, record)| (key.clone(), record.md5)));
        objects.extend(
            phase
                .uploads
                .iter()
                .chain(&phase.replacements)
                .filter_map(|change| Some((change.key.clone(), change.md5?))),
        );
    }
    ledger::Intent {
        id: id.to_string(),
        commit: commit.to_string(),
        prefixes: plan.phases.iter().map(|phase| phase.prefix.clone()).collect(),
        objects,
    }
}

/// Records a deploy that stopped under the lock (refused against the bucket as it was under the lock, or failed
/// part-way), best effort: the error itself is what the run reports. Nothing is written after a signal or once
/// the lock is lost (the guard refuses it anyway).
pub(super) async fn record_stop(
    store: &dyn Store,
    request: &Request<'_>,
    options: &DeployOptions,
    marker: Option<&Marker>,
    err: &DeployError,
    started: std::time::Instant,
) {
    let outcome = match err {
        DeployError::Refused(_) => ledger::Outcome::Refused,
        DeployError::Store(_) | DeployError::Platform(_) => ledger::Outcome::Failed,
        _ => return,
    };
    let reasons = match err {
        DeployError::Refused(reasons) => reasons.clone(),
        other => vec![other.to_string()],
    };
    let record =
        new_record(request, options, marker, outcome, Summary::default(), started, reasons, Default::default());
    if let Err(write_err) = ledger::append(store, &record).await {
        announce(Level::Warning, &format!("could not record the stopped deploy in the history: {write_err}"));
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn new_record(
    request: &Request<'_>,
    options: &DeployOptions,
    marker: Option<&Marker>,
    outcome: ledger::Outcome,
    summary: Summary,
    started: std::time::Instant,
    reasons: Vec<String>,
    objects: std::collections::BTreeMap<String, ObjectRecord>,
) -> ledger::Record {
    let now = std::time::SystemTime::now();
    ledger::Record {
        id: ledger::new_id(now),
        kind: options.kind,
        outcome,
        environment: request.environment.to_string(),
        time: humantime::format_rfc3339_seconds(now).to_string(),
        commit: options.holder.commit.clone(),
        previous_commit: marker.map(|marker| marker.commit.clone()),
        rollback_to: options.rollback_to.clone(),
        actor: options.holder.actor.clone(),
        run_url: options.holder.run_url.clone(),
        summary,
        duration_seconds: ledger::format_seconds(started.elapsed()),
        reasons,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        objects,
        // Only a deploy that happened holds them: a pull request compares with the environment's last deploy.
        dags: if outcome == ledger::Outcome::Deployed { options.dags.clone() } else { Default::default() },
    }
}
