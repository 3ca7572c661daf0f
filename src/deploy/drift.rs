//! Drift: objects under the mapped prefixes that changed, appeared or disappeared since the last deploy wrote
//! them (someone edited the bucket by hand, or a tool other than dagship wrote there). The baseline is the
//! ledger's newest deployed record, else the marker (environments deployed before the ledger existed).
//!
//! An object counts as unchanged when its version is the one recorded, or (rewritten with the same bytes) its
//! MD5 and size are. What a deploy that stopped part-way wrote or deleted (its intent, src/deploy/ledger.rs, is
//! still there) is not drift either: rolling back after a failed deploy must not be refused as a hand edit. Objects the mirror leaves alone (excluded, protected, unnameable) are not drift. A deploy that
//! would overwrite or delete a drifted object under a mapping whose `deploy.drift` policy is `refuse` (DAGs and
//! plugins by default) is refused unless `--overwrite-drift`; under `report` mappings (data by default, which
//! Airflow tasks write) and the dbt state, drift is only reported.
use std::collections::{BTreeMap, BTreeSet};

pub use super::drifted::{Drift, DriftKind, Drifted, kind_name};
use super::layout::{Mapping, Phase, owned_by_deeper};
use super::marker::ObjectRecord;
use super::plan::PhasePlan;
use crate::config::{DriftPolicies, DriftPolicy};
use crate::store::ObjectMeta;

/// The baseline: what the last complete deploy left under the mappings.
pub struct Baseline<'a> {
    pub since: String,
    pub commit: String,
    pub objects: &'a BTreeMap<String, ObjectRecord>,
}

/// Compares each mapping's listing with the baseline.
pub fn compute(
    baseline: &Baseline,
    mappings: &[Mapping],
    owned_prefixes: &[String],
    listings: &[Vec<ObjectMeta>],
    phases: &[PhasePlan],
    explained: impl Fn(&str, Option<crate::hash::Md5>) -> bool,
) -> Drift {
    let mut objects = Vec::new();
    for ((mapping, listing), phase) in mappings.iter().zip(listings).zip(phases) {
        let mine = |key: &str| key.starts_with(&mapping.prefix) && !owned_by_deeper(owned_prefixes, mapping, key);
        let left_alone: BTreeSet<&str> = phase.kept.iter().chain(&phase.ignored).map(String::as_str).collect();
        let listed: BTreeMap<&str, &ObjectMeta> =
            listing.iter().filter(|object| mine(&object.key)).map(|object| (object.key.as_str(), object)).collect();
        let drifted = |key: &str, kind, changed_at: Option<&String>| Drifted {
            key: key.to_string(),
            kind,
            phase: mapping.phase,
            changed_at: changed_at.cloned(),
        };
        for (key, object) in &listed {
            // What a deploy that stopped part-way wrote is dagship's, not a hand edit.
            if left_alone.contains(key) || object.md5.is_some_and(|md5| explained(key, Some(md5))) {
                continue;
            }
            match baseline.objects.get(*key) {
                None => objects.push(drifted(key, DriftKind::Added, object.modified.as_ref())),
                Some(record) if !same(object, record) => {
                    objects.push(drifted(key, DriftKind::Changed, object.modified.as_ref()))
                }
                Some(_) => {}
            }
        }
        for key in baseline.objects.keys().filter(|key| mine(key)) {
            if !listed.contains_key(key.as_str()) && !explained(key, None) {
                objects.push(drifted(key, DriftKind::Removed, None));
            }
        }
    }
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    Drift { since: baseline.since.clone(), since_commit: baseline.commit.clone(), objects, who: None }
}

fn same(object: &ObjectMeta, record: &ObjectRecord) -> bool {
    object.version == record.version || (object.md5 == Some(record.md5) && object.size == record.size)
}

/// What a deploy does about drift under a phase's mapping: `deploy.drift` for DAGs, plugins and data; the dbt
/// state (which dbt and Airflow tasks write) is always reported only.
pub fn policy(policies: &DriftPolicies, phase: Phase) -> DriftPolicy {
    match phase {
        Phase::Dags => policies.dags,
        Phase::Plugins => policies.plugins,
        Phase::Data => policies.data,
        Phase::DbtState => DriftPolicy::Report,
    }
}

/// Drifted objects under a `refuse` mapping (by default DAGs and plugins) this plan would overwrite or delete: a
/// hand edit lost without anyone deciding so.
pub fn refusal(drift: &Drift, phases: &[PhasePlan], environment: &str, policies: &DriftPolicies) -> Option<String> {
    let lost = lost(drift, phases, policies);
    if lost.is_empty() {
        return None;
    }
    const SHOWN: usize = 10;
    let mut listed: Vec<String> = lost
        .iter()
        .take(SHOWN)
        .map(|object| match &object.changed_at {
            Some(at) => format!("`{}` ({} {at})", object.key, kind_name(object.kind)),
            None => format!("`{}` ({})", object.key, kind_name(object.kind)),
        })
        .collect();
    if lost.len() > SHOWN {
        listed.push(format!("and {} more", lost.len() - SHOWN));
    }
    let who = drift.who.as_deref().map(|who| format!(". Who: {who}")).unwrap_or_default();
    Some(format!(
        "{} under a prefix whose drift policy is `refuse` (`deploy.drift`; DAGs and plugins by default) \
         were changed in the bucket outside dagship since deploy {} (commit {}), and this deploy would overwrite or \
         delete them: {}. See them with `dagship drift --env {environment}`; put the edits into the repository, or \
         pass --overwrite-drift to replace them{who}",
        crate::plural::plural(lost.len(), "object"),
        drift.since,
        &drift.since_commit[..drift.since_commit.len().min(12)],
        listed.join(", ")
    ))
}

/// The keys of the drifted objects [`refusal`] would name.
pub fn refused_keys(drift: &Drift, phases: &[PhasePlan], policies: &DriftPolicies) -> BTreeSet<String> {
    lost(drift, phases, policies).into_iter().map(|object| object.key.clone()).collect()
}

/// Drifted objects (changed or added) under a `refuse` mapping that the plan overwrites or deletes.
fn lost<'a>(drift: &'a Drift, phases: &[PhasePlan], policies: &DriftPolicies) -> Vec<&'a Drifted> {
    let touched: BTreeSet<&str> = phases
        .iter()
        .filter(|phase| policy(policies, phase.phase) == DriftPolicy::Refuse)
        .flat_map(|phase| phase.replacements.iter().chain(&phase.deletions))
        .map(|change| change.key.as_str())
        .collect();
    drift
        .objects
        .iter()
        .filter(|object| object.kind != DriftKind::Removed && touched.contains(object.key.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::ledger::Intent;
    use crate::hash::Md5;

    fn mapping() -> Mapping {
        Mapping { phase: Phase::Dags, source: "dags".into(), prefix: "dags/".into(), staged: None }
    }

    fn phase(kept: &[&str]) -> PhasePlan {
        PhasePlan {
            phase: Phase::Dags,
            source: "dags".into(),
            prefix: "dags/".into(),
            uploads: vec![],
            replacements: vec![],
            deletions: vec![],
            unchanged: 0,
            kept: kept.iter().map(|key| key.to_string()).collect(),
            protected_skipped: vec![],
            excluded: 0,
            ignored: vec![],
            source_exists: true,
            source_files: 1,
            remote_objects: 0,
            unchanged_objects: vec![],
        }
    }

    fn listed(key: &str, content: &str, version: &str) -> ObjectMeta {
        ObjectMeta {
            key: key.into(),
            size: content.len() as u64,
            md5: Some(Md5::of_bytes(content.as_bytes())),
            version: version.into(),
            ..Default::default()
        }
    }

    fn recorded(content: &str, version: &str) -> ObjectRecord {
        ObjectRecord {
            md5: Md5::of_bytes(content.as_bytes()),
            size: content.len() as u64,
            version: version.into(),
            version_id: None,
            content: None,
        }
    }

    fn kinds(drift: &Drift) -> Vec<(&str, DriftKind)> {
        drift.objects.iter().map(|object| (object.key.as_str(), object.kind)).collect()
    }

    /// Same version or same bytes is no drift; other bytes, a new key and a missing key are; what the mirror
    /// leaves alone (kept) and what an unfinished deploy wrote or deleted are not.
    #[test]
    fn drift_is_content_changed_outside_dagship() {
        let objects: BTreeMap<String, ObjectRecord> = [
            ("dags/same.py", recorded("a", "v1")),
            ("dags/rewritten.py", recorded("b", "v1")),
            ("dags/edited.py", recorded("c", "v1")),
            ("dags/gone.py", recorded("d", "v1")),
            ("dags/unfinished_gone.py", recorded("e", "v1")),
            ("data/elsewhere.csv", recorded("f", "v1")),
        ]
        .into_iter()
        .map(|(key, record)| (key.to_string(), record))
        .collect();
        let baseline = Baseline { since: "id".into(), commit: "c0ffee".into(), objects: &objects };
        let listing = vec![
            listed("dags/same.py", "a", "v1"),
            listed("dags/rewritten.py", "b", "v2"),
            listed("dags/edited.py", "C", "v2"),
            listed("dags/new.py", "n", "v1"),
            listed("dags/excluded.py", "x", "v1"),
            listed("dags/unfinished.py", "u", "v1"),
        ];
        let unfinished = Intent {
            id: "next".into(),
            commit: "beef".into(),
            prefixes: vec!["dags/".into()],
            // It keeps the others as recorded, writes `unfinished.py` and deletes `unfinished_gone.py`.
            objects: [("same", "a"), ("rewritten", "b"), ("edited", "c"), ("gone", "d"), ("unfinished", "u")]
                .into_iter()
                .map(|(name, content)| (format!("dags/{name}.py"), Md5::of_bytes(content.as_bytes())))
                .collect(),
        };
        let compute = |intents: &[Intent]| {
            let explained = |key: &str, md5| intents.iter().any(|intent: &Intent| intent.explains(key, md5));
            compute(
                &baseline,
                &[mapping()],
                &[],
                std::slice::from_ref(&listing),
                &[phase(&["dags/excluded.py"])],
                explained,
            )
        };
        assert_eq!(
            kinds(&compute(std::slice::from_ref(&unfinished))),
            [
                ("dags/edited.py", DriftKind::Changed),
                ("dags/gone.py", DriftKind::Removed),
                ("dags/new.py", DriftKind::Added)
            ]
        );
        let drift = compute(&[]);
        let without_intent = kinds(&drift);
        assert!(without_intent.contains(&("dags/unfinished.py", DriftKind::Added)), "{without_intent:?}");
        assert!(without_intent.contains(&("dags/unfinished_gone.py", DriftKind::Removed)), "{without_intent:?}");
    }
}
