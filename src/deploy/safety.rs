//! The checks that stand between a plan and a wiped bucket. Each returns the reason a deploy is refused.
use super::plan::PhasePlan;
use crate::config::MaxDelete;

/// Why the deploy must not run; empty when it may. Each guard holds per mapping, on that prefix's own objects:
/// a large `data/` or dbt state prefix must never make room for deleting every DAG.
pub fn refusals(phases: &[PhasePlan], max_delete: MaxDelete, allow_deletes: Option<usize>) -> Vec<String> {
    let mut reasons = Vec::new();
    let total: usize = phases.iter().map(|phase| phase.deletions.len()).sum();
    let allowed = allow_deletes.is_some_and(|allowed| total <= allowed);
    for phase in phases {
        let deletions = phase.deletions.len();
        let deleted = crate::plural::plural(deletions, "object");
        if deletions > 0 && (!phase.source_exists || phase.source_files == 0) {
            let state = match (phase.source_exists, phase.excluded) {
                (false, _) => "does not exist in the commit".to_string(),
                (true, 0) => "is empty".to_string(),
                (true, excluded) => format!("holds only excluded files ({excluded})"),
            };
            reasons.push(format!(
                "the source folder `{}` {state}: deploying would delete {deleted} under `{}` ({}). \
                 Check the folder's path in dagship.yml and that the commit has the files",
                phase.source,
                phase.prefix,
                deleted_keys(phase)
            ));
            continue;
        }
        let limit = delete_limit(max_delete, phase.remote_objects);
        if deletions > limit && !allowed {
            let rule = match max_delete {
                MaxDelete::Count(count) => format!("{count} per folder"),
                MaxDelete::Percent(percent) => {
                    let objects = crate::plural::plural(phase.remote_objects, "object");
                    format!("{percent}% of the {objects} under `{}` = {limit}", phase.prefix)
                }
            };
            reasons.push(format!(
                "the {} mapping (`{}` -> `{}`) deletes {deleted}, over `deploy.max_delete` ({rule}): \
                 {}. Review the deletions (`dagship plan`), then rerun with --allow-deletes {total}",
                phase.phase.name(),
                phase.source,
                phase.prefix,
                deleted_keys(phase)
            ));
        }
    }
    reasons
}

/// The keys a phase deletes, for its refusal: a refusal names what it refused, not only how many.
fn deleted_keys(phase: &PhasePlan) -> String {
    listed(&phase.deletions.iter().map(|change| format!("`{}`", change.key)).collect::<Vec<_>>())
}

/// The first few of `items`, comma-separated, then "and N more": enough to see what a refusal is about without
/// flooding the log (`dagship plan` lists them all).
pub fn listed(items: &[String]) -> String {
    const SHOWN: usize = 10;
    let mut listed = items.iter().take(SHOWN).map(|item| crate::notice::escape_controls(item)).collect::<Vec<_>>();
    if items.len() > SHOWN {
        listed.push(format!("and {} more", items.len() - SHOWN));
    }
    listed.join(", ")
}

/// Uploads whose key a backend would refuse (control characters, empty or dot parts): refused before anything
/// is written, instead of failing half-way through the deploy.
pub fn name_refusals(phases: &[PhasePlan]) -> Vec<String> {
    phases
        .iter()
        .flat_map(|phase| phase.uploads.iter().chain(&phase.replacements))
        .filter_map(|change| {
            crate::store::key_problem(&change.key).map(|problem| {
                format!("the object name {:?} has {problem}: rename the file in the repository", change.key)
            })
        })
        .collect()
}

/// The commit is what gets deployed; tracked files that differ in the work tree would silently not be, so a
/// deploy says so and stops unless told to deploy the commit as it is.
pub fn dirty_refusal(uncommitted: &[String], commit: &str) -> Option<String> {
    if uncommitted.is_empty() {
        return None;
    }
    let listed = listed(&uncommitted.iter().map(|path| format!("`{path}`")).collect::<Vec<_>>());
    Some(format!(
        "{} under the deployed folders differ from commit {} in the work tree ({listed}); dagship \
         deploys commits, not work trees. Commit or stash the changes, or pass --allow-dirty to deploy commit {} \
         as it is",
        crate::plural::plural(uncommitted.len(), "tracked file"),
        &commit[..commit.len().min(12)],
        &commit[..commit.len().min(12)]
    ))
}

/// S3 and GCS refuse object names over 1,024 bytes; a deploy would fail half-way on the first one, after writing
/// the others. Found by tests/it/hostile_input.rs (moto accepts such keys, the real services do not).
pub const MAX_KEY_BYTES: usize = 1024;

/// Uploads whose full object name (the URL's prefix included) is longer than the services accept.
pub fn key_length_refusals(phases: &[PhasePlan], url_prefix: &str) -> Vec<String> {
    phases
        .iter()
        .flat_map(|phase| phase.uploads.iter().chain(&phase.replacements))
        .filter(|change| url_prefix.len() + change.key.len() > MAX_KEY_BYTES)
        .map(|change| {
            format!(
                "the object name `{url_prefix}{}` is {} bytes, over the {MAX_KEY_BYTES} GCS and S3 accept: shorten \
                 the file's path",
                change.key,
                url_prefix.len() + change.key.len()
            )
        })
        .collect()
}

/// The most deletions allowed; a percentage rounds up, so one deletion is always allowed under a non-zero one.
pub fn delete_limit(max_delete: MaxDelete, objects: usize) -> usize {
    match max_delete {
        MaxDelete::Count(count) => usize::try_from(count).unwrap_or(usize::MAX),
        MaxDelete::Percent(percent) => (objects * usize::from(percent)).div_ceil(100),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_over_1024_bytes_are_refused() {
        let change = |key: String| super::super::plan::Change { key, size: 1, md5: None, content: None, local: None };
        let mut phase = phase(0, 0, 2);
        phase.uploads = vec![change(format!("dags/{}", "a".repeat(1000))), change("dags/ok.py".into())];
        assert!(key_length_refusals(std::slice::from_ref(&phase), "").is_empty(), "1,005 bytes fit");
        let refusals = key_length_refusals(&[phase], "team/airflow/environment/");
        assert_eq!(refusals.len(), 1, "{refusals:?}");
        assert!(refusals[0].contains("1030 bytes") && refusals[0].contains("shorten"), "{}", refusals[0]);
    }

    fn phase(remote_objects: usize, deletions: usize, source_files: usize) -> PhasePlan {
        let change = |index: usize| super::super::plan::Change {
            key: format!("dags/{index}.py"),
            size: 1,
            md5: None,
            content: None,
            local: None,
        };
        PhasePlan {
            phase: super::super::layout::Phase::Dags,
            source: "dags".into(),
            prefix: "dags/".into(),
            uploads: vec![],
            replacements: vec![],
            deletions: (0..deletions.min(remote_objects)).map(change).collect(),
            unchanged: 0,
            kept: vec![],
            protected_skipped: vec![],
            excluded: 0,
            ignored: vec![],
            source_exists: true,
            source_files,
            remote_objects,
            unchanged_objects: vec![],
        }
    }

    proptest::proptest! {
        /// Whatever the mix of mappings, a plan the guards let through deletes no more of any one prefix than
        /// `max_delete` allows of that prefix (unless --allow-deletes covers the whole plan), and deletes nothing
        /// under a mapping whose source has no file. A guard summed over all prefixes fails this.
        #[test]
        fn a_plan_the_guards_pass_stays_within_every_mappings_limit(
            mappings in proptest::collection::vec((0usize..60, 0usize..60, 0usize..30), 1..5),
            percent in 0u8..=100,
            allow in proptest::option::of(0usize..120),
        ) {
            let phases: Vec<PhasePlan> =
                mappings.iter().map(|&(remote, deletions, files)| phase(remote, deletions, files)).collect();
            if refusals(&phases, MaxDelete::Percent(percent), allow).is_empty() {
                let total: usize = phases.iter().map(|phase| phase.deletions.len()).sum();
                for phase in &phases {
                    let limit = delete_limit(MaxDelete::Percent(percent), phase.remote_objects);
                    proptest::prop_assert!(
                        phase.deletions.len() <= limit || allow.is_some_and(|allowed| total <= allowed)
                    );
                    proptest::prop_assert!(phase.deletions.is_empty() || phase.source_files > 0);
                }
            }
        }
    }

    /// A refusal counting one object says "1 object": the count and the noun agree in every guard's message.
    #[test]
    fn a_refusal_deleting_one_object_says_1_object() {
        let over_count = refusals(&[phase(1, 1, 1)], MaxDelete::Count(0), None);
        assert_eq!(over_count.len(), 1, "{over_count:?}");
        assert!(over_count[0].contains("deletes 1 object, over `deploy.max_delete`"), "{}", over_count[0]);
        let over_percent = refusals(&[phase(1, 1, 1)], MaxDelete::Percent(0), None);
        assert!(over_percent[0].contains("(0% of the 1 object under `dags/` = 0)"), "{}", over_percent[0]);
        let empty_source = refusals(&[phase(1, 1, 0)], MaxDelete::Count(10), None);
        assert!(empty_source[0].contains("deploying would delete 1 object under `dags/`"), "{}", empty_source[0]);
        let dirty = dirty_refusal(&["dags/a.py".into()], "0123456789abcdef").expect("a dirty file is refused");
        assert!(dirty.starts_with("1 tracked file under the deployed folders"), "{dirty}");
    }

    #[test]
    fn percentages_round_up() {
        assert_eq!(delete_limit(MaxDelete::Percent(10), 5), 1);
        assert_eq!(delete_limit(MaxDelete::Percent(10), 200), 20);
        assert_eq!(delete_limit(MaxDelete::Percent(0), 200), 0);
        assert_eq!(delete_limit(MaxDelete::Count(3), 200), 3);
    }
}
