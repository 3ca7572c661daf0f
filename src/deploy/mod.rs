//! The deploy engine: plan by content, refuse what is unsafe, lock the environment, apply in ordered
//! phases, record a marker. `plan` never writes; `deploy` writes only when every safety check passes.
mod apply;
mod commit_source;
mod exclude;
mod guard;
mod layout;
mod lease;
mod lock;
mod marker;
mod plan;
mod safety;
mod source;

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

pub use apply::{StepReport, human_bytes};
pub use exclude::PLATFORM_MANAGED;
pub use layout::{Mapping, Phase, dbt_state_prefix, mappings};
pub use lock::{Holder, LOCK_KEY, LockPolicy, now_seconds};
pub use marker::ObjectRecord;
pub use marker::{MARKER_KEY, Marker};
pub use plan::{Change, LastDeploy, PhasePlan, Plan, Summary};
pub use safety::delete_limit;

use crate::config::{Config, Environment};
use crate::error_kind::ErrorKind;
use crate::notice::{Level, announce};
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
    pub store_options: StoreOptions,
    pub allow_deletes: Option<usize>,
    /// The staged dbt artifacts to publish to the state prefix, when this deploy publishes them.
    pub dbt_state: Option<&'a Path>,
    /// The commit's files (see [`stage_source`]): what plans compare and deploys upload.
    pub source: Option<&'a StagedSource>,
    /// Deploy although tracked files under the deployed folders differ in the work tree (the commit is deployed).
    pub allow_dirty: bool,
}

impl Request<'_> {
    fn environment(&self) -> Result<&Environment, DeployError> {
        self.config.environment(self.environment).map_err(DeployError::Input)
    }

    /// The environment's bucket URL, parsed (relative `file://` paths are inside the repository).
    pub fn url(&self) -> Result<StoreUrl, DeployError> {
        let environment = self.environment()?;
        StoreUrl::parse(&environment.bucket, self.repo_root)
            .map_err(|err| DeployError::Input(format!("environments.{}.bucket: {err}", self.environment)))
    }

    /// Opens the environment's store, with the config's endpoint override when there is one.
    pub async fn open_store(&self) -> Result<Arc<dyn Store>, DeployError> {
        let mut options = self.store_options.clone();
        if options.endpoint.is_none() {
            options.endpoint = self.environment()?.endpoint.clone();
        }
        Ok(store::open(&self.url()?, &options).await?)
    }
}

/// A plan and the store it was made against.
pub struct Prepared {
    pub store: Arc<dyn Store>,
    pub plan: Plan,
    pub marker: Option<Marker>,
}

/// Reads the local folders and the bucket side by side and plans the deploy. Writes nothing.
pub async fn prepare(request: &Request<'_>) -> Result<Prepared, DeployError> {
    let store = request.open_store().await?;
    prepare_with(request, store).await
}

async fn prepare_with(request: &Request<'_>, store: Arc<dyn Store>) -> Result<Prepared, DeployError> {
    let source =
        request.source.ok_or_else(|| DeployError::Input("internal: a plan needs the commit's staged files".into()))?;
    let mappings = layout::mappings(request.config, request.environment()?.platform, request.dbt_state);
    let owned_prefixes = layout::owned_prefixes(request.config, &mappings);
    let protected = Protected::new(&request.config.deploy.protect)?;

    // Hash the staged trees on blocking threads while the bucket is listed.
    let trees = {
        let (root, mappings, excluded) = (source.root().to_path_buf(), mappings.clone(), source.excluded.clone());
        tokio::task::spawn_blocking(move || read_trees(&root, &mappings, &excluded))
    };
    let listings = futures::future::try_join_all(mappings.iter().map(|mapping| store.list(&mapping.prefix)));
    let (marker, listings) = futures::future::try_join(marker::read(store.as_ref()), listings).await?;
    let trees =
        trees.await.map_err(|err| DeployError::Input(format!("reading the source folders failed: {err}")))??;

    let rules = plan::Rules {
        owned_prefixes: &owned_prefixes,
        excludes: &source.excludes,
        protected: &protected,
        marker: marker.as_ref(),
    };
    let phases: Vec<PhasePlan> = mappings
        .iter()
        .zip(&trees)
        .zip(&listings)
        .map(|((mapping, tree), remote): ((&Mapping, &SourceTree), &Vec<ObjectMeta>)| {
            plan::plan_mapping(&plan::MappingState { mapping, tree, remote }, &rules)
        })
        .collect();
    let mut refusals = safety::refusals(&phases, request.config.deploy.max_delete, request.allow_deletes);
    refusals.extend(safety::name_refusals(&phases));
    if store.url().scheme != store::Scheme::File {
        refusals.extend(safety::key_length_refusals(&phases, &store.url().prefix));
    }
    if !request.allow_dirty {
        refusals.extend(safety::dirty_refusal(&source.dirty, &source.commit));
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
        uncommitted: source.dirty.clone(),
        untracked: source.untracked.len(),
        refusals,
    };
    Ok(Prepared { store, plan, marker })
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
    let mut folders: Vec<String> = layout::mappings(config, environment.platform, None)
        .into_iter()
        .filter(|mapping| mapping.staged.is_none())
        .map(|mapping| mapping.source)
        .collect();
    let mut files = Vec::new();
    if let Some(mwaa) = &environment.mwaa {
        folders.extend(config.plugins_dir.clone());
        files.extend(mwaa.requirements.clone());
        files.extend(mwaa.startup_script.clone());
    }
    let spec = SourceSpec {
        repo_root,
        revision,
        folders,
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
        folders,
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

fn read_trees(
    root: &Path,
    mappings: &[Mapping],
    excluded: &std::collections::BTreeMap<String, usize>,
) -> Result<Vec<SourceTree>, DeployError> {
    mappings
        .iter()
        .map(|mapping| match &mapping.staged {
            Some(staged) => source::read_tree(staged, ""),
            None => {
                let folder = commit_source::normalize(&mapping.source);
                let mut tree = source::read_tree(root, &folder)?;
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
}

#[derive(Debug, Serialize)]
pub struct DeployReport {
    pub environment: String,
    pub bucket: String,
    pub dry_run: bool,
    /// Nothing to write: the bucket already matched and the marker named this commit.
    pub up_to_date: bool,
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
    if options.dry_run {
        let mwaa = match &options.mwaa {
            Some(mwaa) => Some(mwaa.apply(true).await?),
            None => None,
        };
        let mut report = report(request, prepared.plan, true, false, commit, Vec::new(), None);
        report.mwaa = mwaa;
        return Ok(report);
    }
    warn_if_older(request.repo_root, prepared.marker.as_ref(), &commit);

    // Plan under the lock, so the plan is made against the bucket no other deploy is changing.
    // Every write under the lock goes through the guard, which stops the deploy once its lease lapses.
    crate::cancel::listen();
    let lock = lock::acquire(store.as_ref(), options.holder.clone(), request.environment, &options.lock).await?;
    let lease = lease::Lease::start(store.clone(), &lock, request.environment, options.lock.ttl);
    let guarded: Arc<dyn Store> = Arc::new(guard::GuardedStore::new(store.clone(), lease.clone()));
    let writing = crate::cancel::Writing::start();
    let result = deploy_locked(request, guarded, &options, &commit).await.map_err(|err| lease.explain(err));
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
    Ok(report)
}

/// Deploying a commit that the deployed one descends from puts older code in place: allowed (it is how a revert
/// by redeploy works), but never silently.
fn warn_if_older(repo_root: &Path, marker: Option<&Marker>, commit: &str) {
    let Some(deployed) = marker.map(|marker| marker.commit.as_str()).filter(|deployed| *deployed != commit) else {
        return;
    };
    let Ok(git) = crate::git::Git::discover(repo_root) else { return };
    if git.is_ancestor(commit, deployed).unwrap_or(false) {
        announce(
            Level::Warning,
            &format!(
                "deploying commit {commit}, an ancestor of the deployed commit {deployed}: this rolls the \
                 environment back to older code"
            ),
        );
    }
}

/// What a deploy did under the lock.
struct Locked {
    plan: Plan,
    steps: Vec<StepReport>,
    /// The bucket already matched and the marker named this commit: nothing was written.
    up_to_date: bool,
    mwaa: Option<MwaaReport>,
}

/// Plans, checks, runs the platform step, applies and writes the marker.
async fn deploy_locked(
    request: &Request<'_>,
    store: Arc<dyn Store>,
    options: &DeployOptions,
    commit: &str,
) -> Result<Locked, DeployError> {
    let prepared = prepare_with(request, store.clone()).await?;
    if !prepared.plan.refusals.is_empty() {
        return Err(DeployError::Refused(prepared.plan.refusals));
    }
    // MWAA's files and update go before the DAGs (which may import the new plugins). They are compared with
    // what the environment runs on every deploy, so an update that failed last time is retried.
    apply::stop_if_cancelled()?;
    let mwaa = match &options.mwaa {
        Some(mwaa) => Some(mwaa.apply(false).await?),
        None => None,
    };
    let recorded = prepared.marker.as_ref().is_some_and(|marker| marker.commit == commit);
    if prepared.plan.is_noop() && recorded {
        return Ok(Locked { plan: prepared.plan, steps: Vec::new(), up_to_date: true, mwaa });
    }
    let applied = apply::apply(store.as_ref(), &prepared.plan, options.concurrency).await?;
    // The marker says the bucket holds this commit: never after a cancelled deploy.
    apply::stop_if_cancelled()?;
    let mut objects: std::collections::BTreeMap<String, ObjectRecord> =
        prepared.plan.phases.iter().flat_map(|phase| phase.unchanged_objects.iter().cloned()).collect();
    objects.extend(applied.written);
    let marker = Marker {
        environment: request.environment.to_string(),
        commit: commit.to_string(),
        deployed_at: lock::format_time(now_seconds()),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        objects,
    };
    marker::write(store.as_ref(), &marker).await?;
    Ok(Locked { plan: prepared.plan, steps: applied.steps, up_to_date: false, mwaa })
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
