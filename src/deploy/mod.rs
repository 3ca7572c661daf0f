//! The deploy engine: plan by content, refuse what is unsafe, lock the environment, apply in ordered
//! phases, record a marker. `plan` never writes; `deploy` writes only when every safety check passes.
mod apply;
mod artifact_hash;
mod blob_cache;
mod commit_files;
mod commit_source;
mod drift;
mod drifted;
mod etag_md5;
mod exclude;
mod first_look;
mod guard;
mod layout;
mod lease;
pub mod ledger;
mod lock;
mod marker;
#[cfg(test)]
mod model_tests;
mod older;
mod plan;
mod record;
mod restore;
mod review;
mod safety;
mod source;
mod work_tree;

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

pub use apply::{StepReport, human_bytes};
pub use drift::{Drift, DriftKind, Drifted, kind_name as drift_kind_name};
pub use exclude::PLATFORM_MANAGED;
pub use layout::{Mapping, Phase, dbt_state_prefix, mappings};
pub use lock::{Holder, LOCK_KEY, LockPolicy, now_seconds};
pub use marker::ObjectRecord;
pub use marker::{MARKER_KEY, Marker};
pub use plan::{Change, LastDeploy, PhasePlan, Plan, Summary};
pub use review::Review;
pub use safety::{delete_limit, listed};

use crate::config::{Config, Environment};
use crate::error_kind::ErrorKind;
use crate::platform::PlatformError;
use crate::platform::mwaa::{MwaaReport, MwaaStep};
use crate::store::{self, ObjectMeta, Store, StoreError, StoreOptions, StoreUrl};
use commit_source::SourceSpec;
pub use commit_source::StagedSource;
use exclude::Protected;
use source::SourceTree;

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// Bad input: an unknown environment, a missing exclude file, an unreadable folder.
    #[error("{0}")]
    Input(String),
    /// A source file that cannot be deployed safely (symlink out of the repository, non-UTF-8 name).
    #[error("refusing to deploy: {0}")]
    UnsafeSource(String),
    #[error("refusing to deploy: {}", .0.join("; "))]
    Refused(Vec<String>),
    #[error("{0}")]
    LockHeld(String),
    /// The deploy lost its lock (taken over, removed, or its lease unconfirmed past half the TTL): it stopped
    /// before its next write and wrote no marker.
    #[error("{0}")]
    LockLost(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// A signal came during the writes. Either the deploy stopped before its next write (no marker) or it had
    /// already finished them (marker written): the marker names the last complete deploy either way.
    #[error(
        "cancelled by a signal during the deploy; the marker names the last deploy whose writes all finished, and \
         the next deploy completes this one"
    )]
    Cancelled,
}

impl DeployError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            DeployError::Input(_) => ErrorKind::Usage,
            DeployError::UnsafeSource(_) | DeployError::Refused(_) | DeployError::LockHeld(_) => ErrorKind::Refused,
            DeployError::LockLost(_) => ErrorKind::Remote,
            DeployError::Store(err) => err.kind(),
            DeployError::Platform(err) => err.kind(),
            DeployError::Cancelled => ErrorKind::Cancelled,
        }
    }
}

/// Everything a plan needs to know, resolved from the config.
pub struct Request<'a> {
    pub repo_root: &'a Path,
    pub config: &'a Config,
    pub environment: &'a str,
    /// The environment's settings and bucket URL, resolved once by the caller (`Workspace::target`).
    pub settings: &'a Environment,
    pub url: StoreUrl,
    pub store_options: StoreOptions,
    pub allow_deletes: Option<usize>,
    /// The staged dbt artifacts to publish to the state prefix, when this deploy publishes them.
    pub dbt_state: Option<&'a Path>,
    /// The commit's files (see [`stage_source`]): what plans compare and deploys upload.
    pub source: Option<&'a StagedSource>,
    /// Deploy although tracked files under the deployed folders differ in the work tree (the commit is deployed).
    pub allow_dirty: bool,
    /// Replace DAGs and plugins edited in the bucket since the last deploy instead of refusing.
    pub overwrite_drift: bool,
}

impl Request<'_> {
    /// Opens the environment's store, with the config's request timeout and its endpoint override when there is
    /// one.
    pub async fn open_store(&self) -> Result<Arc<dyn Store>, DeployError> {
        let mut options = self.store_options.clone();
        options.request_timeout = self.config.deploy.request_timeout();
        if options.endpoint.is_none() {
            options.endpoint = self.settings.endpoint.clone();
        }
        Ok(store::open(&self.url, &options).await?)
    }
}

/// A plan and the store it was made against.
#[derive(Clone)]
pub struct Prepared {
    pub store: Arc<dyn Store>,
    pub plan: Plan,
    pub marker: Option<Marker>,
    /// The keys of intents left by deploys that stopped part-way (cleared once this deploy is recorded).
    pub intents: Vec<String>,
    /// `.dagship/` as it was before the bucket was listed for this plan.
    look: first_look::FirstLook,
}

/// Reads the local folders and the bucket side by side and plans the deploy. Writes nothing.
pub async fn prepare(request: &Request<'_>) -> Result<Prepared, DeployError> {
    let store = request.open_store().await?;
    prepare_with(request, store).await
}

async fn prepare_with(request: &Request<'_>, store: Arc<dyn Store>) -> Result<Prepared, DeployError> {
    let source =
        request.source.ok_or_else(|| DeployError::Input("internal: a plan needs the commit's staged files".into()))?;
    let mappings = layout::mappings(request.config, request.settings.platform, request.dbt_state);
    let owned_prefixes = layout::owned_prefixes(request.config, &mappings);
    let protected = Protected::new(&request.config.deploy.protect)?;

    // dagship's own files first (one listing: marker, ledger, intents, lock), before any other read: the lock
    // may then use this plan instead of listing again (src/deploy/first_look.rs).
    let look = first_look::FirstLook::take(store.as_ref()).await?;
    // The marker (one read), then the staged trees hashed on blocking threads (skipping the blobs the marker has
    // digests for) while the bucket is still being listed.
    let marker_and_trees = async {
        let mut marker = match look.holds(MARKER_KEY) {
            true => marker::read(store.as_ref()).await?,
            false => None,
        };
        // The blob digests are only the trees' to use (the next marker's come from the trees).
        let digests = marker.as_mut().map(|marker| std::mem::take(&mut marker.blobs)).unwrap_or_default();
        let files = source.files.clone();
        let (root, mappings, excluded) = (source.root().to_path_buf(), mappings.clone(), source.excluded.clone());
        let trees =
            tokio::task::spawn_blocking(move || read_trees(&root, files.as_deref(), &mappings, &excluded, &digests))
                .await
                .map_err(|err| DeployError::Input(format!("reading the source folders failed: {err}")))??;
        Ok::<_, DeployError>((marker, trees))
    };
    let listings = async {
        futures::future::try_join_all(mappings.iter().map(|mapping| store.list(&mapping.prefix)))
            .await
            .map_err(DeployError::from)
    };
    let intents = async { ledger::intents_in(store.as_ref(), &look.objects).await.map_err(DeployError::from) };
    let ((marker, trees), listings, intents, work_tree) =
        futures::future::try_join4(marker_and_trees, listings, intents, source.work_tree.changes()).await?;
    let ledger_ids = ledger::ids_in(&look.objects);
    // The drift baseline: the newest deployed record. When that is the marker's own record, the marker holds the
    // same objects (both are written from one set, src/deploy/mod.rs `apply_and_record`) and it is not read again.
    let marker_record = marker.as_ref().and_then(|marker| marker.ledger_id.as_deref());
    let last_record = ledger::last_deployed_before(store.as_ref(), &ledger_ids, marker_record).await?;
    let blobs = source::blob_digests(&trees);

    let rules = plan::Rules {
        owned_prefixes: &owned_prefixes,
        excludes: &source.excludes,
        protected: &protected,
        marker: marker.as_ref(),
    };
    let baseline = match (&last_record, &marker) {
        (Some(record), _) => {
            Some(drift::Baseline { since: record.id.clone(), commit: record.commit.clone(), objects: &record.objects })
        }
        (None, Some(marker)) => Some(drift::Baseline {
            since: marker.ledger_id.clone().unwrap_or_else(|| "marker".into()),
            commit: marker.commit.clone(),
            objects: &marker.objects,
        }),
        (None, None) => None,
    };
    let unfinished: Vec<ledger::Intent> = intents.iter().map(|(_, intent)| intent.clone()).collect();
    let drift_of = |phases: &[PhasePlan], listings: &[Vec<ObjectMeta>]| {
        baseline.as_ref().map(|baseline| {
            let explained = |key: &str, md5| unfinished.iter().any(|intent| intent.explains(key, md5));
            let mut drift = drift::compute(baseline, &mappings, &owned_prefixes, listings, phases, explained);
            drift.who = (!drift.is_empty()).then(|| drifted::who_hint(store.url().scheme).to_string());
            drift
        })
    };
    let policies = &request.config.deploy.drift;
    let mut listings = listings;
    let mut phases = plan_phases(&mappings, &trees, &listings, &rules);
    let mut drift = drift_of(&phases, &listings);
    // On an S3 bucket whose ETags are not MD5s (SSE-KMS), what a refusal for drift would name is read and hashed
    // before it is believed, and the plan made again (src/deploy/etag_md5.rs).
    if let Some(found) = &drift
        && !request.overwrite_drift
        && store.url().scheme == store::Scheme::S3
        && etag_md5::etags_are_not_md5s(marker.as_ref())
    {
        let named = drift::refused_keys(found, &phases, policies);
        if !named.is_empty() {
            etag_md5::hash_objects(store.as_ref(), &named, &mut listings).await?;
            phases = plan_phases(&mappings, &trees, &listings, &rules);
            drift = drift_of(&phases, &listings);
        }
    }
    let mut refusals = safety::refusals(&phases, request.config.deploy.max_delete, request.allow_deletes);
    refusals.extend(safety::name_refusals(&phases));
    if store.url().scheme != store::Scheme::File {
        refusals.extend(safety::key_length_refusals(&phases, &store.url().prefix));
    }
    if !request.allow_dirty {
        refusals.extend(safety::dirty_refusal(&work_tree.changed, &source.commit));
    }
    if let Some(drift) = &drift
        && !request.overwrite_drift
    {
        refusals.extend(drift::refusal(drift, &phases, request.environment, policies));
    }
    let plan = Plan {
        environment: request.environment.to_string(),
        bucket: store.url().to_string(),
        commit: source.commit.clone(),
        summary: plan::summarize(&phases),
        phases,
        last_deploy: marker
            .as_ref()
            .map(|marker| LastDeploy { commit: marker.commit.clone(), deployed_at: marker.deployed_at.clone() }),
        untracked: work_tree.untracked.len(),
        uncommitted: work_tree.changed,
        refusals,
        drift,
        older_than_deployed: older::older_than(request.repo_root, marker.as_ref(), &source.commit),
        blobs,
    };
    let intents = intents.into_iter().map(|(key, _)| key).collect();
    Ok(Prepared { store, plan, marker, intents, look })
}

/// Each mapping's plan, from its local tree and its bucket listing.
fn plan_phases(
    mappings: &[Mapping],
    trees: &[SourceTree],
    listings: &[Vec<ObjectMeta>],
    rules: &plan::Rules,
) -> Vec<PhasePlan> {
    mappings
        .iter()
        .zip(trees)
        .zip(listings)
        .map(|((mapping, tree), remote)| plan::plan_mapping(&plan::MappingState { mapping, tree, remote }, rules))
        .collect()
}

/// Stages the files `environment` deploys from `revision` (HEAD when `None`): the mirrored folders, and on MWAA
/// the plugins folder, requirements and startup script. Blocking (git and file writes).
pub fn stage_source(
    repo_root: &Path,
    config: &Config,
    environment: &str,
    revision: Option<&str>,
) -> Result<StagedSource, DeployError> {
    let environment = config.environment(environment).map_err(DeployError::Input)?;
    let folders: Vec<String> = layout::mappings(config, environment.platform, None)
        .into_iter()
        .filter(|mapping| mapping.staged.is_none())
        .map(|mapping| mapping.source)
        .collect();
    let (mut written, mut files) = (Vec::new(), Vec::new());
    if let Some(mwaa) = &environment.mwaa {
        // plugins.zip is packed from the staging folder.
        written.extend(config.plugins_dir.clone());
        files.extend(mwaa.requirements.clone());
        files.extend(mwaa.startup_script.clone());
    }
    let spec = SourceSpec {
        repo_root,
        revision,
        folders,
        written,
        files,
        exclude_from: config.deploy.exclude_from.as_deref(),
        dbt_project_dir: config.dbt.as_ref().map(|dbt| dbt.project_dir.as_str()),
    };
    commit_source::stage(&spec, |staged_root| generated_folders(config, staged_root))
}

/// Stages `folders` as they are in `revision`, with no exclude rules: a past commit's files to read or import
/// (the DAG diff imports the base commit's DAG files), never to deploy.
pub fn stage_folders(repo_root: &Path, revision: &str, folders: Vec<String>) -> Result<StagedSource, DeployError> {
    let spec = SourceSpec {
        repo_root,
        revision: Some(revision),
        folders: Vec::new(),
        // Imported by Python: every file on disk.
        written: folders,
        files: Vec::new(),
        exclude_from: None,
        dbt_project_dir: None,
    };
    commit_source::stage(&spec, |_| Vec::new())
}

/// Folders dbt writes into the project when it runs (`target-path` and `log-path` of the commit's
/// dbt_project.yml, `target` and `logs` by default): build output, never deployed from a mirrored folder that
/// holds the project. The dbt state phase publishes what DAGs need from the target folder.
fn generated_folders(config: &Config, staged_root: &Path) -> Vec<String> {
    let Some(dbt) = &config.dbt else { return Vec::new() };
    let project = commit_source::normalize(&dbt.project_dir);
    let settings: serde_json::Value = std::fs::read_to_string(staged_root.join(&project).join("dbt_project.yml"))
        .ok()
        .and_then(|text| yaml_serde::from_str(&text).ok())
        .unwrap_or_default();
    [("target-path", "target"), ("log-path", "logs")]
        .into_iter()
        .map(|(key, default)| settings.get(key).and_then(|value| value.as_str()).unwrap_or(default).to_string())
        .filter(|folder| !folder.starts_with('/') && !folder.split('/').any(|part| part == ".."))
        .map(|folder| commit_source::normalize(&format!("{project}/{folder}")))
        .collect()
}

/// Each mapping's local files: the staged dbt state from its folder, a commit's mirrored folders from git (only
/// the blobs `digests` does not name are read), files staged otherwise (a rollback's object versions) from `root`.
fn read_trees(
    root: &Path,
    files: Option<&commit_files::CommitFiles>,
    mappings: &[Mapping],
    excluded: &std::collections::BTreeMap<String, usize>,
    digests: &blob_cache::BlobDigests,
) -> Result<Vec<SourceTree>, DeployError> {
    mappings
        .iter()
        .map(|mapping| match &mapping.staged {
            Some(staged) => {
                let mut tree = source::read_tree(staged, "")?;
                artifact_hash::add_content_hashes(&mut tree.files);
                Ok(tree)
            }
            None => {
                let folder = commit_source::normalize(&mapping.source);
                let mut tree = match files {
                    Some(files) => files.tree(&folder, digests)?,
                    None => source::read_tree(root, &folder)?,
                };
                tree.excluded = excluded.get(&folder).copied().unwrap_or(0);
                Ok(tree)
            }
        })
        .collect()
}

/// How to run a deploy.
pub struct DeployOptions {
    pub dry_run: bool,
    pub concurrency: usize,
    pub lock: LockPolicy,
    /// Written into the lock and the marker.
    pub holder: Holder,
    /// The MWAA environment's files and update, when the environment has `mwaa` settings.
    pub mwaa: Option<Arc<MwaaStep>>,
    /// A deploy or a rollback (recorded in the ledger).
    pub kind: ledger::Kind,
    /// For a rollback: the ledger record it restores.
    pub rollback_to: Option<String>,
    /// What to do when the commit is an ancestor of the deployed one.
    pub older: OlderCommit,
    /// Shown the plan before the first write (and asked again if the plan under the lock differs).
    pub review: Option<Arc<dyn Review>>,
    /// The DAG ids per DAG file the DAG check found in the commit before the deploy (`dags_check.before_deploy`),
    /// kept in the deploy's ledger record; empty when no check ran.
    pub dags: std::collections::BTreeMap<String, Vec<String>>,
}

/// Deploying an ancestor of the deployed commit puts older code in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OlderCommit {
    /// Warn (a laptop's `dagship deploy`).
    Warn,
    /// Refuse (`dagship ci`: an older commit goes back only through `rollback`).
    Refuse,
    /// Expected (`dagship rollback`): a notice only.
    Rollback,
}

#[derive(Debug, Serialize)]
pub struct DeployReport {
    pub environment: String,
    pub bucket: String,
    pub dry_run: bool,
    /// Nothing to write: the bucket already matched and the marker named this commit.
    pub up_to_date: bool,
    /// The ledger record this deploy wrote (none for dry runs and up-to-date runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger_id: Option<String>,
    pub commit: String,
    pub plan: Plan,
    pub steps: Vec<StepReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub took_over_lock_from: Option<Holder>,
    pub marker_written: bool,
    /// What the MWAA step uploaded and whether it updated the environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mwaa: Option<MwaaReport>,
}

pub async fn deploy(request: &Request<'_>, options: DeployOptions) -> Result<DeployReport, DeployError> {
    let store = request.open_store().await?;
    let commit = options.holder.commit.clone();
    // The platform's checks (MWAA: versioning, the environment AVAILABLE) come before any write at all.
    if let Some(mwaa) = &options.mwaa {
        mwaa.preflight(options.dry_run).await?;
    }
    // Every refusal that can be decided before the lock is (the source's names and links, the guards against the
    // bucket as it is now): a refused deploy writes nothing at all, not even the lock. The plan is made again
    // under the lock, against the bucket no other deploy is changing.
    let prepared = prepare_with(request, store.clone()).await?;
    if !prepared.plan.refusals.is_empty() {
        return Err(DeployError::Refused(prepared.plan.refusals));
    }
    if !options.dry_run
        && let Some(refusal) = older::check_older(&prepared.plan, options.older)
    {
        return Err(DeployError::Refused(vec![refusal]));
    }
    if let Some(review) = &options.review {
        review.before_writes(&prepared.plan, options.dry_run)?;
    }
    if options.dry_run {
        let mwaa = match &options.mwaa {
            Some(mwaa) => Some(mwaa.apply(true).await?),
            None => None,
        };
        let mut report = report(request, prepared.plan, true, false, commit, Vec::new(), None);
        report.mwaa = mwaa;
        return Ok(report);
    }
    // Nothing to write: the listing just made found every object as the commit has it and the marker naming the
    // commit and its ledger record. Taking the lock only to list again and find the same would double a no-op's
    // cost and write (and delete) a lock; a deploy that starts meanwhile is simply ordered after this one. MWAA's
    // step is compared with the environment under the lock on every deploy (a failed update is retried), so an
    // MWAA environment always goes on. So does a deploy that saw a lock or an intent (src/deploy/first_look.rs).
    if options.mwaa.is_none()
        && prepared.look.was_quiet()
        && up_to_date(&prepared.plan, prepared.marker.as_ref(), &commit, options.kind)
    {
        return Ok(report(request, prepared.plan, false, true, commit, Vec::new(), None));
    }
    let started = std::time::Instant::now();

    // Plan under the lock, so the plan is made against the bucket no other deploy is changing.
    // Every write under the lock goes through the guard, which stops the deploy once its lease lapses.
    crate::cancel::listen();
    let lock = lock::acquire(store.as_ref(), options.holder.clone(), request.environment, &options.lock).await?;
    let lease = lease::Lease::start(store.clone(), &lock, request.environment, options.lock.ttl);
    let guarded: Arc<dyn Store> = Arc::new(guard::GuardedStore::new(store.clone(), lease.clone()));
    let writing = crate::cancel::Writing::start();
    let took_over = lock.took_over.is_some();
    let result = deploy_locked(request, guarded.clone(), &options, &prepared, took_over, started).await;
    if let Err(err) = &result {
        record::record_stop(guarded.as_ref(), request, &options, prepared.marker.as_ref(), err, started).await;
    }
    let result = result.map_err(|err| lease.explain(err));
    let released = lease.release().await;
    drop(writing);
    let locked = result?;
    released?;
    // A signal after the last check (the marker written, the lock being released) still ends the run as
    // cancelled, so a run that said it was cancelling never reports success.
    if crate::cancel::requested() {
        return Err(DeployError::Cancelled);
    }
    let took_over = lock.took_over;
    let mut report = report(request, locked.plan, false, locked.up_to_date, commit, locked.steps, took_over);
    report.mwaa = locked.mwaa;
    report.ledger_id = locked.ledger_id;
    Ok(report)
}

/// What a deploy did under the lock.
struct Locked {
    plan: Plan,
    steps: Vec<StepReport>,
    /// The bucket already matched and the marker named this commit: nothing was written.
    up_to_date: bool,
    mwaa: Option<MwaaReport>,
    ledger_id: Option<String>,
}

/// Plans, checks, runs the platform step, applies and writes the marker.
async fn deploy_locked(
    request: &Request<'_>,
    store: Arc<dyn Store>,
    options: &DeployOptions,
    first: &Prepared,
    took_over: bool,
    started: std::time::Instant,
) -> Result<Locked, DeployError> {
    let commit = options.holder.commit.as_str();
    let shown = &first.plan;
    // The plan made before the lock, when nothing dagship writes changed since it was made; else a new one,
    // against the bucket no other deploy is changing now.
    let prepared = match first.look.still_holds(store.as_ref(), took_over).await? {
        true => Prepared { store: store.clone(), ..first.clone() },
        false => prepare_with(request, store.clone()).await?,
    };
    if !prepared.plan.refusals.is_empty() {
        return Err(DeployError::Refused(prepared.plan.refusals));
    }
    if let Some(review) = &options.review
        && review::writes(shown) != review::writes(&prepared.plan)
    {
        review.replanned(&prepared.plan)?;
    }
    // MWAA's files and update go before the DAGs (which may import the new plugins). They are compared with
    // what the environment runs on every deploy, so an update that failed last time is retried.
    apply::stop_if_cancelled()?;
    let mwaa = match &options.mwaa {
        Some(mwaa) => Some(mwaa.apply(false).await?),
        None => None,
    };
    if up_to_date(&prepared.plan, prepared.marker.as_ref(), commit, options.kind) {
        return Ok(Locked { plan: prepared.plan, steps: Vec::new(), up_to_date: true, mwaa, ledger_id: None });
    }
    let entry = LedgerEntry {
        record: record::new_record(
            request,
            options,
            prepared.marker.as_ref(),
            ledger::Outcome::Deployed,
            prepared.plan.summary.clone(),
            started,
            Vec::new(),
            Default::default(),
        ),
        started,
        stale_intents: prepared.intents.clone(),
        keep: request.config.history.keep,
    };
    let ledger_id = entry.record.id.clone();
    write_uploads(request.source, &prepared.plan).await?;
    let steps = apply_and_record(store.as_ref(), &prepared.plan, commit, options.concurrency, entry).await?;
    Ok(Locked { plan: prepared.plan, steps, up_to_date: false, mwaa, ledger_id: Some(ledger_id) })
}

/// Writes into the staging folder the commit's files the plan uploads that the plan took from the marker's blob
/// digests unread (src/deploy/commit_files.rs): an object deleted or changed in the bucket whose file did not change.
async fn write_uploads(source: Option<&StagedSource>, plan: &Plan) -> Result<(), DeployError> {
    let Some(files) = source.and_then(|source| source.files.clone()) else { return Ok(()) };
    let paths: Vec<std::path::PathBuf> = plan
        .phases
        .iter()
        .flat_map(|phase| phase.uploads.iter().chain(&phase.replacements))
        .filter_map(|change| change.local.clone())
        .collect();
    tokio::task::spawn_blocking(move || files.materialize(paths.iter().map(|path| path.as_path())))
        .await
        .map_err(|err| DeployError::Input(format!("staging the files to upload failed: {err}")))?
}

/// Nothing to write: the bucket already matches the plan, and the marker names this commit *and* its ledger
/// record (a deploy whose record or marker a crash kept from being written is recorded now). A rollback is always
/// recorded.
fn up_to_date(plan: &Plan, marker: Option<&Marker>, commit: &str, kind: ledger::Kind) -> bool {
    plan.is_noop()
        && kind == ledger::Kind::Deploy
        && marker.is_some_and(|marker| marker.commit == commit && marker.ledger_id.is_some())
}

/// The ledger record a deploy appends once its writes landed (its objects and duration are filled in then), and
/// the intents of earlier deploys that stopped part-way, which this one completes.
struct LedgerEntry {
    record: ledger::Record,
    started: std::time::Instant,
    stale_intents: Vec<String>,
    /// How many ledger records to keep (`history.keep`): older ones are pruned once this one is written.
    keep: usize,
}

/// States the deploy's intent, applies the plan, then appends the ledger record and writes the marker naming
/// `commit` that points at it, only once every write has finished: the marker always names a commit whose
/// objects are all in place, and the ledger record is whole or absent. The engine's unit tests (model_tests.rs)
/// drive this function.
async fn apply_and_record(
    store: &dyn Store,
    plan: &Plan,
    commit: &str,
    concurrency: usize,
    entry: LedgerEntry,
) -> Result<Vec<StepReport>, DeployError> {
    let LedgerEntry { mut record, started, stale_intents, keep } = entry;
    if !plan.is_noop() {
        apply::stop_if_cancelled()?;
        ledger::write_intent(store, &record::intent(&record.id, commit, plan)).await?;
    }
    let applied = apply::apply(store, plan, concurrency).await?;
    // The marker says the bucket holds this commit: never after a cancelled deploy.
    apply::stop_if_cancelled()?;
    let mut objects: std::collections::BTreeMap<String, ObjectRecord> =
        plan.phases.iter().flat_map(|phase| phase.unchanged_objects.iter().cloned()).collect();
    objects.extend(applied.written);
    // The ledger record first (its commit point), then the marker that points at it. The record was made before
    // the writes (its id names the intent): when it is written and how long the deploy took are known only now.
    let written_at = lock::format_time(now_seconds());
    record.objects = objects.clone();
    record.time = written_at.clone();
    record.duration_seconds = ledger::format_seconds(started.elapsed());
    apply::stop_if_cancelled()?;
    ledger::append(store, &record).await?;
    let marker = Marker {
        environment: record.environment.clone(),
        commit: commit.to_string(),
        deployed_at: written_at,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        objects,
        ledger_id: Some(record.id.clone()),
        blobs: plan.blobs.clone(),
    };
    marker::write(store, &marker).await?;
    // This deploy's intent, and those of deploys that stopped part-way (this one completed them). Best effort: the
    // deploy is recorded and its marker written, so it succeeded; an intent left behind names objects the ledger
    // now holds (never taken for drift), and the next deploy removes it.
    let own = ledger::intent_key(&record.id);
    let intents = async {
        for key in stale_intents.iter().chain(std::iter::once(&own).filter(|_| !plan.is_noop())) {
            if let Err(err) = store.delete(key).await {
                crate::notice::announce(
                    crate::notice::Level::Warning,
                    &format!("the deploy intent `{key}` stays until the next deploy removes it: {err}"),
                );
            }
        }
    };
    // Retention, best effort like the intents (and beside them): the deploy succeeded; a record left over is
    // pruned next time.
    let retention = async {
        if let Err(err) = ledger::prune(store, keep, &record.id).await {
            crate::notice::announce(
                crate::notice::Level::Warning,
                &format!(
                    "could not prune the deploy history to its newest {} (`history.keep`): {err}",
                    crate::plural::plural(keep, "record")
                ),
            );
        }
    };
    futures::future::join(intents, retention).await;
    Ok(applied.steps)
}

fn report(
    request: &Request<'_>,
    plan: Plan,
    dry_run: bool,
    up_to_date: bool,
    commit: String,
    steps: Vec<StepReport>,
    took_over_lock_from: Option<Holder>,
) -> DeployReport {
    DeployReport {
        environment: request.environment.to_string(),
        bucket: plan.bucket.clone(),
        dry_run,
        up_to_date,
        commit,
        plan,
        steps,
        took_over_lock_from,
        // The marker is written by every deploy that is neither a dry run nor already up to date.
        marker_written: !dry_run && !up_to_date,
        mwaa: None,
        ledger_id: None,
    }
}

/// The environment's deploy marker, if it has one.
pub async fn last_deploy(request: &Request<'_>) -> Result<Option<Marker>, DeployError> {
    let store = request.open_store().await?;
    Ok(marker::read(store.as_ref()).await?)
}

/// Removes an environment's lock (after a deploy died), returning who held it. A live lock is refused unless
/// `force` (see `lock::unlock`).
pub async fn unlock(request: &Request<'_>, force: bool) -> Result<Option<Holder>, DeployError> {
    let store = request.open_store().await?;
    lock::unlock(store.as_ref(), request.environment, request.config.deploy.lock_ttl(), force).await
}

/// The environment's newest `limit` ledger records, newest first.
pub async fn history(request: &Request<'_>, limit: usize) -> Result<Vec<ledger::Record>, DeployError> {
    let store = request.open_store().await?;
    Ok(ledger::newest(store.as_ref(), limit).await?)
}

/// The current deployed record and the one a rollback to `to` restores (see [`ledger::rollback_target`]).
pub async fn rollback_target(
    request: &Request<'_>,
    to: Option<&str>,
) -> Result<(ledger::Record, ledger::Record), DeployError> {
    let store = request.open_store().await?;
    ledger::rollback_target(store.as_ref(), to).await.map_err(|err| match err {
        ledger::RollbackError::Store(err) => DeployError::Store(err),
        other => DeployError::Input(other.to_string()),
    })
}

/// Whether `record` can be restored from the bucket's object versions (every object has a kept version).
pub fn restorable_from_versions(record: &ledger::Record) -> bool {
    restore::restorable(record)
}

/// Stages `record`'s object set from the bucket's kept object versions, each checked against the record's MD5
/// (see src/deploy/restore.rs). Reads only.
pub async fn stage_versions(request: &Request<'_>, record: &ledger::Record) -> Result<StagedSource, DeployError> {
    let store = request.open_store().await?;
    let concurrency = request.config.deploy.concurrency;
    restore::stage_versions(store.as_ref(), request.repo_root, request.config, request.settings, record, concurrency)
        .await
}

/// Who holds the environment's deploy lock, if anyone.
pub async fn lock_holder(request: &Request<'_>) -> Result<Option<Holder>, DeployError> {
    let store = request.open_store().await?;
    Ok(store.get(LOCK_KEY).await?.map(|bytes| lock::LockRecord::parse(&bytes).holder))
}
