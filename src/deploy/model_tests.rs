//! The engine's plan, guards, apply and marker against an in-memory store (src/store/memory.rs): the same
//! functions a deploy runs (`plan_phases`, `safety::refusals`, `up_to_date`, `apply_and_record`), fast enough for
//! property tests over generated trees, buckets and interleavings of killed deploys; and the lock and its lease
//! when an answer is lost or another deploy takes the lock. What they leave out, and the integration tests cover:
//! staging from git, waiting for and taking over a stale lock (lock.rs's own tests), the real backends.
use std::collections::BTreeMap;

use proptest::prelude::*;

use super::exclude::{Excludes, Protected};
use super::layout::{Mapping, Phase};
use super::marker::{self, Marker};
use super::plan::{self, Plan};
use super::source::{self, SourceTree};
use super::{DeployError, LedgerEntry, apply_and_record, ledger, plan_phases, safety, up_to_date};
use crate::config::MaxDelete;
use crate::store::memory::MemoryStore;
use crate::store::{RetryPolicy, Retrying, Store};

/// The mappings under test: data first, DAGs last, as a Composer environment has them.
fn mappings() -> Vec<Mapping> {
    [(Phase::Data, "data"), (Phase::Dags, "dags")]
        .into_iter()
        .map(|(phase, folder)| Mapping { phase, source: folder.into(), prefix: format!("{folder}/"), staged: None })
        .collect()
}

/// Bucket objects no deploy may write or delete: outside every prefix, Composer's own, and excluded by the
/// built-in rules (caches). Never generated as local files.
const UNTOUCHABLE: [&str; 6] = [
    "logs/scheduler.log",
    "airflow.cfg",
    "dags/airflow_monitoring.py",
    "dags/x.pyc",
    "dags/__pycache__/m.pyc",
    "other/z",
];

/// A commit: its id and its files (repository path -> content), written out as the staged tree a deploy reads.
struct Commit {
    id: String,
    files: BTreeMap<String, String>,
    dir: tempfile::TempDir,
}

impl Commit {
    fn new(id: &str, files: BTreeMap<String, String>) -> Commit {
        let dir = tempfile::tempdir().unwrap();
        for (path, content) in &files {
            let full = dir.path().join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, content).unwrap();
        }
        Commit { id: id.into(), files, dir }
    }
}

struct Guards {
    max_delete: MaxDelete,
    protect: Vec<String>,
}

const ALLOW_ALL: Guards = Guards { max_delete: MaxDelete::Percent(100), protect: Vec::new() };

/// The plan a deploy of `commit` makes against `store` now, and the marker it read.
async fn plan_for(store: &MemoryStore, commit: &Commit, guards: &Guards) -> (Plan, Option<Marker>) {
    let mappings = mappings();
    let owned: Vec<String> = mappings.iter().map(|mapping| mapping.prefix.clone()).collect();
    let excludes = Excludes::load(commit.dir.path(), None, &[]).unwrap();
    let protected = Protected::new(&guards.protect).unwrap();
    let marker = marker::read(store).await.unwrap();
    let trees: Vec<SourceTree> =
        mappings.iter().map(|mapping| source::read_tree(commit.dir.path(), &mapping.source).unwrap()).collect();
    let mut listings = Vec::new();
    for mapping in &mappings {
        listings.push(store.list(&mapping.prefix).await.unwrap());
    }
    let rules =
        plan::Rules { owned_prefixes: &owned, excludes: &excludes, protected: &protected, marker: marker.as_ref() };
    let phases = plan_phases(&mappings, &trees, &listings, &rules);
    let refusals = safety::refusals(&phases, guards.max_delete, None);
    let plan = Plan {
        environment: "test".into(),
        bucket: store.url().to_string(),
        commit: commit.id.clone(),
        summary: plan::summarize(&phases),
        phases,
        last_deploy: None,
        uncommitted: Vec::new(),
        untracked: 0,
        refusals,
        // Drift and the ancestor check read the ledger and git history: the integration tests cover them.
        drift: None,
        older_than_deployed: None,
        blobs: Default::default(),
    };
    (plan, marker)
}

/// What `deploy` does once it holds the lock: plan, refuse, skip when up to date, apply and record.
async fn deploy(store: &MemoryStore, commit: &Commit, guards: &Guards, concurrency: usize) -> Result<(), DeployError> {
    deploy_keeping(store, commit, guards, concurrency, crate::config::DEFAULT_HISTORY_KEEP).await
}

/// [`deploy`] with a `history.keep`.
async fn deploy_keeping(
    store: &MemoryStore,
    commit: &Commit,
    guards: &Guards,
    concurrency: usize,
    keep: usize,
) -> Result<(), DeployError> {
    let (plan, marker) = plan_for(store, commit, guards).await;
    if !plan.refusals.is_empty() {
        return Err(DeployError::Refused(plan.refusals));
    }
    if up_to_date(&plan, marker.as_ref(), &commit.id, ledger::Kind::Deploy) {
        return Ok(());
    }
    let stale_intents = ledger::intents(store).await.unwrap().into_iter().map(|(key, _)| key).collect();
    let entry = LedgerEntry { record: record_of(commit), started: std::time::Instant::now(), stale_intents, keep };
    apply_and_record(store, &plan, &commit.id, concurrency, entry).await.map(|_| ())
}

/// The ledger record a deploy of `commit` starts from (apply_and_record fills in its objects and duration).
fn record_of(commit: &Commit) -> ledger::Record {
    let now = std::time::SystemTime::now();
    ledger::Record {
        id: ledger::new_id(now),
        kind: ledger::Kind::Deploy,
        outcome: ledger::Outcome::Deployed,
        environment: "test".into(),
        time: humantime::format_rfc3339_seconds(now).to_string(),
        commit: commit.id.clone(),
        previous_commit: None,
        rollback_to: None,
        actor: None,
        run_url: None,
        summary: Default::default(),
        duration_seconds: 0.0,
        reasons: Vec::new(),
        tool_version: "test".into(),
        objects: BTreeMap::new(),
        dags: BTreeMap::new(),
    }
}

fn run<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

/// The bucket's objects under the mapped prefixes that a deploy manages (not the untouchable ones), as text.
fn managed(store: &MemoryStore) -> BTreeMap<String, String> {
    store
        .objects()
        .into_iter()
        .filter(|(key, _)| {
            (key.starts_with("data/") || key.starts_with("dags/")) && !UNTOUCHABLE.contains(&key.as_str())
        })
        .map(|(key, bytes)| (key, String::from_utf8(bytes.to_vec()).unwrap()))
        .collect()
}

fn untouchable(store: &MemoryStore) -> BTreeMap<String, bytes::Bytes> {
    store.objects().into_iter().filter(|(key, _)| UNTOUCHABLE.contains(&key.as_str())).collect()
}

/// The marker's commit re-planned against the bucket: nothing to do, and the marker names it.
async fn assert_converged(store: &MemoryStore, commit: &Commit) {
    let (plan, marker) = plan_for(store, commit, &ALLOW_ALL).await;
    assert!(plan.is_noop(), "re-planning {} plans {:?}", commit.id, plan.summary);
    assert!(up_to_date(&plan, marker.as_ref(), &commit.id, ledger::Kind::Deploy), "the marker names {}", commit.id);
    assert_eq!(managed(store), commit.files, "the bucket holds exactly {}", commit.id);
    // The marker points at a whole ledger record of this commit, holding the marker's object set. (An intent may
    // be left when a deploy stopped right after its marker; the next deploy that writes removes it.)
    let marker = marker.unwrap();
    let record = ledger::read(store, marker.ledger_id.as_deref().unwrap()).await.unwrap().expect("the marker's record");
    assert_eq!(record.commit, commit.id);
    assert_eq!(record.objects, marker.objects, "the record holds the marker's objects");
}

/// Files of one commit: a few names per folder (folders nest, names collide across commits), three contents
/// (so unchanged files happen; two of one size, so only the hash tells them apart). An empty folder is absent from the commit.
fn files() -> impl Strategy<Value = BTreeMap<String, String>> {
    let names = ["a.py", "b.py", "sub/c.py", "sub/d.sql", "sub/deep/e.py", "f.txt"];
    let path = (prop::sample::select(vec!["data", "dags"]), prop::sample::select(names.to_vec()))
        .prop_map(|(folder, name)| format!("{folder}/{name}"));
    prop::collection::btree_map(path, prop::sample::select(vec!["1", "2", "22"]).prop_map(String::from), 0..9)
}

/// Files of a commit with both folders present (a missing or empty folder is refused by the wipe check, which
/// `no_plan_deletes_more_than_its_guards_allow` covers).
fn deployable_files() -> impl Strategy<Value = BTreeMap<String, String>> {
    let content = || prop::sample::select(vec!["1", "2", "22"]).prop_map(String::from);
    (files(), content(), content()).prop_map(|(mut files, data, dags)| {
        files.insert("data/keep.csv".into(), data);
        files.insert("dags/keep.py".into(), dags);
        files
    })
}

/// A bucket before the first deploy: managed-looking keys with any content, and untouchable ones.
fn bucket() -> impl Strategy<Value = (BTreeMap<String, String>, Vec<(usize, u8)>)> {
    (files(), prop::collection::vec((0..UNTOUCHABLE.len(), any::<u8>()), 0..4))
}

fn seeded(hide_md5: bool, (managed, untouchable): &(BTreeMap<String, String>, Vec<(usize, u8)>)) -> MemoryStore {
    let store = MemoryStore::new(hide_md5);
    for (key, content) in managed {
        store.seed(key, content.as_bytes());
    }
    for (index, byte) in untouchable {
        store.seed(UNTOUCHABLE[*index], &[*byte]);
    }
    store
}

fn max_delete() -> impl Strategy<Value = MaxDelete> {
    prop_oneof![(0u64..4).prop_map(MaxDelete::Count), (0u8..=100).prop_map(MaxDelete::Percent)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// (a) A plan applied, then planned again, plans nothing; the bucket holds exactly the commit under the
    /// prefixes, and nothing untouchable was written or deleted. With MD5-less listings (S3 KMS, multipart) the
    /// re-plan is empty thanks to the marker's records alone.
    #[test]
    fn a_plan_applied_then_re_planned_is_empty(
        files in deployable_files(), before in bucket(), hide_md5 in any::<bool>(), concurrency in 1usize..5,
    ) {
        let store = seeded(hide_md5, &before);
        let untouched = untouchable(&store);
        let commit = Commit::new("c1", files);
        run(async {
            deploy(&store, &commit, &ALLOW_ALL, concurrency).await.unwrap();
            assert_converged(&store, &commit).await;
        });
        prop_assert_eq!(untouchable(&store), untouched);
        let touched: Vec<String> = store
            .journal()
            .into_iter()
            .filter(|write| UNTOUCHABLE.iter().any(|key| write.split_once(' ').is_some_and(|(_, written)| written == *key)))
            .collect();
        prop_assert_eq!(touched, Vec::<String>::new());
    }

    /// (b) Whatever the trees, the bucket and `max_delete`: a plan the guards pass deletes, per mapping, no more
    /// than that mapping's own limit, and nothing under a folder missing from the commit; the apply deletes exactly
    /// the planned keys. A plan they refuse writes nothing at all.
    #[test]
    fn no_plan_deletes_more_than_its_guards_allow(
        files in files(), before in bucket(), max_delete in max_delete(), protect_b in any::<bool>(),
    ) {
        let store = seeded(false, &before);
        let untouched = untouchable(&store);
        let commit = Commit::new("c1", files);
        let guards = Guards { max_delete, protect: if protect_b { vec!["dags/b.py".into()] } else { Vec::new() } };
        let (plan, _) = run(plan_for(&store, &commit, &guards));
        let result = run(deploy(&store, &commit, &guards, 2));
        if plan.refusals.is_empty() {
            result.unwrap();
            for phase in &plan.phases {
                let deletions = phase.deletions.len();
                prop_assert!(deletions <= super::delete_limit(max_delete, phase.remote_objects), "{}: {deletions}", phase.prefix);
                prop_assert!(deletions == 0 || (phase.source_exists && phase.source_files > 0), "{}", phase.prefix);
                let deleted = store.journal().iter().filter(|write| write.starts_with(&format!("DELETE {}", phase.prefix))).count();
                prop_assert_eq!(deleted, deletions);
            }
            if protect_b && before.0.contains_key("dags/b.py") {
                prop_assert_eq!(store.objects().get("dags/b.py").map(|bytes| bytes.to_vec()), before.0.get("dags/b.py").map(|text| text.clone().into_bytes()));
            }
        } else {
            prop_assert!(matches!(result, Err(DeployError::Refused(_))));
            prop_assert_eq!(store.journal(), Vec::<String>::new());
        }
        prop_assert_eq!(untouchable(&store), untouched);
    }

    /// (c) Deploys of random commits, each killed after a random number of writes, or with one write refused (the
    /// writes after it would land), or undisturbed: a marker is only ever written by a deploy whose writes all
    /// landed, so whenever it changes it names that deploy's commit and the bucket holds exactly that commit
    /// (re-planning it is empty); a failed deploy leaves the marker as it was; and the next complete deploy
    /// converges whatever came before.
    #[test]
    fn the_marker_only_names_a_commit_the_bucket_holds_whatever_the_kills(
        commits in prop::collection::vec(deployable_files(), 3),
        steps in prop::collection::vec((0usize..3, prop::option::weighted(0.7, 0usize..14), any::<bool>()), 1..7),
        before in bucket(),
        hide_md5 in any::<bool>(),
        concurrency in 1usize..4,
    ) {
        let store = seeded(hide_md5, &before);
        let commits: Vec<Commit> =
            commits.into_iter().enumerate().map(|(index, files)| Commit::new(&format!("c{index}"), files)).collect();
        run(async {
            for (index, disrupt_after, kill) in &steps {
                let commit = &commits[*index];
                let marker_before = store.get(marker::MARKER_KEY).await.unwrap();
                if *kill {
                    store.set_write_budget(*disrupt_after);
                } else {
                    store.refuse_one_write_after(*disrupt_after);
                }
                let result = deploy(&store, commit, &ALLOW_ALL, concurrency).await;
                store.set_write_budget(None);
                store.refuse_one_write_after(None);
                let marker_after = store.get(marker::MARKER_KEY).await.unwrap();
                if result.is_err() {
                    assert_eq!(marker_after, marker_before, "a failed deploy of {} wrote no marker", commit.id);
                } else {
                    // Complete: written now, or already naming this commit with nothing to do.
                    assert_converged(&store, commit).await;
                }
                if marker_after != marker_before {
                    let named: Marker = serde_json::from_slice(marker_after.as_ref().unwrap()).unwrap();
                    assert_eq!(named.commit, commit.id);
                    assert_converged(&store, commit).await;
                }
            }
            let last = &commits[steps.last().unwrap().0];
            deploy(&store, last, &ALLOW_ALL, concurrency).await.unwrap();
            assert_converged(&store, last).await;
        });
    }
}

/// A deploy killed after each possible number of writes, then a complete one: every prefix of the writes leaves a
/// state the next deploy completes (exhaustive over the kill point, for one fixed change set).
#[test]
fn a_deploy_killed_after_any_write_is_completed_by_the_next() {
    let first: BTreeMap<String, String> =
        [("data/a.py", "1"), ("dags/a.py", "1"), ("dags/sub/c.py", "22")].map(|(k, v)| (k.into(), v.into())).into();
    let second: BTreeMap<String, String> =
        [("data/a.py", "22"), ("data/f.txt", "1"), ("dags/sub/c.py", "22"), ("dags/b.py", "333")]
            .map(|(k, v)| (k.into(), v.into()))
            .into();
    let (first, second) = (Commit::new("c1", first), Commit::new("c2", second));
    // The intent, then data/a.py replaced, data/f.txt and dags/b.py uploaded, dags/a.py deleted, then the ledger
    // record, the marker (the 7th write: the deploy is complete) and the intent's removal: 8 writes.
    for kill_after in 0..=8 {
        for hide_md5 in [false, true] {
            let store = MemoryStore::new(hide_md5);
            run(async {
                deploy(&store, &first, &ALLOW_ALL, 1).await.unwrap();
                store.set_write_budget(Some(kill_after));
                let result = deploy(&store, &second, &ALLOW_ALL, 1).await;
                store.set_write_budget(None);
                assert_eq!(result.is_ok(), kill_after >= 7, "killed after {kill_after} writes");
                let marker: Marker =
                    serde_json::from_slice(&store.get(marker::MARKER_KEY).await.unwrap().unwrap()).unwrap();
                assert_eq!(marker.commit, if kill_after >= 7 { "c2" } else { "c1" });
                deploy(&store, &second, &ALLOW_ALL, 1).await.unwrap();
                assert_converged(&store, &second).await;
            });
        }
    }
}

/// Retention (`history.keep`) runs after the marker, best effort: a refused prune leaves the deploy succeeded,
/// the next deploy prunes what was left, and the record the marker names is never removed.
#[test]
fn history_pruning_is_best_effort_and_keeps_the_markers_record() {
    let files = |content: &str| -> BTreeMap<String, String> { [("dags/a.py".into(), content.into())].into() };
    let store = MemoryStore::new(false);
    let marker_id = |store: &MemoryStore| {
        let bytes = run(store.get(marker::MARKER_KEY)).unwrap().unwrap();
        serde_json::from_slice::<Marker>(&bytes).unwrap().ledger_id.unwrap()
    };
    for (index, content) in ["1", "22", "333"].into_iter().enumerate() {
        // Record ids sort by their millisecond: deploys in one millisecond would sort by their random suffix.
        std::thread::sleep(std::time::Duration::from_millis(2));
        if index == 2 {
            // The intent, dags/a.py, the record, the marker, the intent's removal; then the prune's delete.
            store.refuse_one_write_after(Some(5));
        }
        let commit = Commit::new(&format!("c{index}"), files(content));
        run(deploy_keeping(&store, &commit, &ALLOW_ALL, 1, 1)).expect("a failed prune fails no deploy");
    }
    let ids = run(ledger::ids(&store)).unwrap();
    assert_eq!(ids.len(), 2, "the refused prune left the older record: {ids:?}");
    assert_eq!(ids.last(), Some(&marker_id(&store)));
    std::thread::sleep(std::time::Duration::from_millis(2));
    run(deploy_keeping(&store, &Commit::new("c3", files("4444")), &ALLOW_ALL, 1, 1)).unwrap();
    assert_eq!(run(ledger::ids(&store)).unwrap(), [marker_id(&store)], "pruned to the marker's record");
}

/// The memory store behind the retries every real backend gets, with delays short enough for unit tests.
fn retrying(store: &MemoryStore) -> std::sync::Arc<dyn Store> {
    let policy = RetryPolicy {
        attempts: 4,
        base_delay: std::time::Duration::from_millis(1),
        max_delay: std::time::Duration::from_millis(2),
    };
    std::sync::Arc::new(Retrying::new(Box::new(store.clone()), policy))
}

fn holder(id: &str) -> super::Holder {
    super::Holder {
        id: id.into(),
        commit: "c1".into(),
        run_url: None,
        host: "host".into(),
        pid: 1,
        actor: None,
        acquired_at: 0,
    }
}

fn lock_policy() -> super::LockPolicy {
    let second = std::time::Duration::from_secs(1);
    super::LockPolicy { timeout: second, ttl: 60 * second, poll: second / 50 }
}

/// The lock's create lands but its answer is lost; the retry meets its own lock (AlreadyExists): the deploy
/// recognises its own bytes and holds the lock, instead of waiting a TTL for itself or taking itself over.
#[test]
fn a_lock_whose_create_answer_was_lost_is_recognised_as_ours() {
    let memory = MemoryStore::new(false);
    let store = retrying(&memory);
    memory.lose_one_answer_after(Some(0));
    run(async {
        let lock = super::lock::acquire(store.as_ref(), holder("me"), "test", &lock_policy()).await.unwrap();
        assert!(lock.took_over.is_none());
        assert_eq!(memory.journal(), vec![format!("PUT {}", super::LOCK_KEY)], "one create, no takeover");
        assert!(super::lock::release(store.as_ref(), "me", None).await.unwrap());
        assert!(memory.objects().is_empty(), "released");
    });
}

/// A renewal lands but its answer is lost; the retry, conditioned on the old version, is refused (Changed): the
/// lease reads the lock back, finds its own renewal, and keeps renewing on the new version; the release deletes
/// it. A lease that mistook its own write for a takeover would stop the deploy (exit 4).
#[test]
fn a_renewal_whose_answer_was_lost_keeps_the_lease() {
    let memory = MemoryStore::new(false);
    let store = retrying(&memory);
    run(async {
        let policy = lock_policy();
        let lock = super::lock::acquire(store.as_ref(), holder("me"), "test", &policy).await.unwrap();
        let lease = super::lease::Lease::start(store.clone(), &lock, "test", policy.ttl);
        memory.lose_one_answer_after(Some(0));
        lease.renew().await.unwrap();
        lease.renew().await.unwrap();
        assert_eq!(lease.failure(), None, "the lease still allows writes");
        assert!(lease.release().await.unwrap(), "the lock was still ours to release");
        assert!(memory.objects().is_empty());
        let lock_writes = memory.journal().iter().filter(|write| write.ends_with(super::LOCK_KEY)).count();
        assert_eq!(lock_writes, 4, "create, 2 renewals, delete: {:?}", memory.journal());
    });
}

/// Another deploy replaced the lock: the next renewal finds a stranger's lock, the lease is lost for good, every
/// later write is refused as fenced, and the release leaves the stranger's lock alone.
#[test]
fn a_lock_taken_over_fences_the_deploy_and_survives_its_release() {
    let memory = MemoryStore::new(false);
    let store = retrying(&memory);
    run(async {
        let policy = lock_policy();
        let lock = super::lock::acquire(store.as_ref(), holder("me"), "test", &policy).await.unwrap();
        let lease = super::lease::Lease::start(store.clone(), &lock, "test", policy.ttl);
        let stranger = super::lock::LockRecord::new(&holder("stranger"), "test", policy.ttl).to_bytes();
        memory.seed(super::LOCK_KEY, &stranger);
        assert!(lease.renew().await.is_err());
        assert!(lease.failure().is_some_and(|reason| reason.contains("another deploy took it over")));
        let guarded = super::guard::GuardedStore::new(store.clone(), lease.clone());
        let body = crate::store::PutRequest::bytes(
            "dags/a.py",
            bytes::Bytes::from_static(b"1"),
            crate::store::PutMode::Overwrite,
        );
        let refused = guarded.put(&body).await.unwrap_err();
        assert_eq!(refused.kind, crate::store::StoreErrorKind::Fenced);
        assert!(!lease.release().await.unwrap());
        assert_eq!(memory.objects().get(super::LOCK_KEY).map(|bytes| bytes.to_vec()), Some(stranger.to_vec()));
        assert!(!memory.journal().iter().any(|write| write.contains("dags/a.py")), "the fenced write never landed");
    });
}
