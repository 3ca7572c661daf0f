//! MWAA beyond the `dags/` mirror: plugins.zip, requirements.txt and the startup script are uploaded only when
//! they differ from the versions the environment runs, and the environment is updated only then, with the new
//! version ids. A DAG-only change never updates the environment.
mod artifacts;
mod client;
pub(crate) mod sdk_error;
mod status;

use std::path::Path;

use serde::Serialize;

pub use artifacts::Kind;
use artifacts::{Local, Versions};
pub use client::mwaa_client as client;
use client::mwaa_client;

use crate::config::{Config, Environment, MwaaConfig};
use crate::platform::PlatformError;
use crate::store::{StoreUrl, s3_client};

/// What happened to one file MWAA reads by version.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactReport {
    pub kind: Kind,
    pub key: String,
    pub md5: String,
    /// The version the environment ran before this deploy (when it ran this key).
    pub running_version: Option<String>,
    /// The version the environment is updated to; none when unchanged.
    pub new_version: Option<String>,
    pub action: ArtifactAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactAction {
    /// The environment already runs this content.
    Unchanged,
    /// Uploaded as a new object version.
    Uploaded,
    /// A kept object version already holds this content: the newest (a previous run uploaded it, then failed
    /// before or during the environment update) or an older one the environment ran before (a rollback, or a
    /// change reverted): that version is used, nothing is uploaded.
    Reused,
    /// A dry run: would upload and update.
    WouldUpload,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateOutcome {
    /// Nothing MWAA reads by version changed.
    NotNeeded,
    /// A dry run found changes.
    WouldUpdate,
    /// UpdateEnvironment was called; the environment updates in the background.
    Requested,
    /// UpdateEnvironment was called and the update finished successfully.
    Completed,
}

#[derive(Debug, Clone, Serialize)]
pub struct MwaaReport {
    pub environment_name: String,
    /// The status read before the deploy.
    pub status: String,
    pub artifacts: Vec<ArtifactReport>,
    pub update: UpdateOutcome,
}

impl MwaaReport {
    /// Whether UpdateEnvironment was called.
    pub fn updated(&self) -> bool {
        matches!(self.update, UpdateOutcome::Requested | UpdateOutcome::Completed)
    }
}

/// Everything the MWAA step of one deploy needs, resolved before anything remote is touched.
pub struct MwaaStep {
    mwaa: aws_sdk_mwaa::Client,
    s3: aws_sdk_s3::Client,
    settings: MwaaConfig,
    bucket: String,
    locals: Vec<Local>,
}

/// The environment's status (`AVAILABLE`, `UPDATING`, ...) as the deploy's gate reads it, for `dagship doctor`.
pub async fn status(name: &str) -> Result<String, PlatformError> {
    let environment = status::get(&mwaa_client(None).await, name).await?;
    Ok(status::status_name(&environment))
}

impl MwaaStep {
    /// The step for `environment`, or `None` when it has no `mwaa` settings. Builds plugins.zip and reads the
    /// files first: a missing file fails here, before any request.
    pub async fn new(
        root: &Path,
        config: &Config,
        environment: &Environment,
        url: &StoreUrl,
    ) -> Result<Option<MwaaStep>, PlatformError> {
        let Some(settings) = &environment.mwaa else { return Ok(None) };
        let locals = artifacts::collect(root, config, settings, &url.prefix)?;
        Ok(Some(MwaaStep {
            mwaa: mwaa_client(None).await,
            s3: s3_client(environment.endpoint.as_deref(), config.deploy.request_timeout()).await,
            settings: settings.clone(),
            bucket: url.bucket.clone(),
            locals,
        }))
    }

    fn versions(&self) -> Versions<'_> {
        Versions { client: &self.s3, bucket: &self.bucket }
    }

    fn name(&self) -> &str {
        &self.settings.environment_name
    }

    /// The environment as it is (a dry run waits for nothing), or once AVAILABLE (waiting while an update runs).
    async fn environment(&self, dry_run: bool) -> Result<aws_sdk_mwaa::types::Environment, PlatformError> {
        if dry_run {
            status::get(&self.mwaa, self.name()).await
        } else {
            status::wait_until_available(
                &self.mwaa,
                self.name(),
                self.settings.wait_timeout(),
                self.settings.poll_interval(),
            )
            .await
        }
    }

    /// Checks made before anything is written (not even the deploy lock): the bucket keeps versions, the
    /// environment reads this bucket, and it is AVAILABLE (waiting while another update runs). A dry run waits
    /// for nothing: it reports the status as it is, with the plan.
    pub async fn preflight(&self, dry_run: bool) -> Result<(), PlatformError> {
        self.versions().require_versioning().await?;
        let environment = self.environment(dry_run).await?;
        let expected = format!("arn:aws:s3:::{}", self.bucket);
        match environment.source_bucket_arn() {
            Some(arn) if arn != expected => Err(PlatformError::Input(format!(
                "MWAA environment `{}` reads bucket `{arn}`, but the environment's `bucket` is s3://{}: fix one",
                self.name(),
                self.bucket
            ))),
            _ => Ok(()),
        }
    }

    /// Uploads what changed and updates the environment with the new versions (with `dry_run`, only says
    /// so). Runs under the deploy lock, before the DAGs are mirrored.
    pub async fn apply(&self, dry_run: bool) -> Result<MwaaReport, PlatformError> {
        // A dry run reports on the environment as it is; a real run needs it AVAILABLE (preflight waited once,
        // but another update may have started since).
        let environment = self.environment(dry_run).await?;
        let mut artifacts = Vec::new();
        for local in &self.locals {
            let (path, version) = match local.kind {
                Kind::Plugins => (environment.plugins_s3_path(), environment.plugins_s3_object_version()),
                Kind::Requirements => {
                    (environment.requirements_s3_path(), environment.requirements_s3_object_version())
                }
                Kind::StartupScript => {
                    (environment.startup_script_s3_path(), environment.startup_script_s3_object_version())
                }
            };
            let running_version = version.filter(|_| path == Some(local.key.as_str())).map(str::to_string);
            artifacts.push(self.sync(local, running_version, dry_run).await?);
        }
        let changed: Vec<&ArtifactReport> =
            artifacts.iter().filter(|artifact| artifact.action != ArtifactAction::Unchanged).collect();
        let update = if changed.is_empty() {
            UpdateOutcome::NotNeeded
        } else if dry_run {
            UpdateOutcome::WouldUpdate
        } else {
            self.update(&changed, status::last_update_created(&environment)).await?
        };
        Ok(MwaaReport {
            environment_name: self.name().to_string(),
            status: status::status_name(&environment),
            artifacts,
            update,
        })
    }

    /// Compares one file with the version the environment runs and uploads it when it differs.
    async fn sync(
        &self,
        local: &Local,
        running_version: Option<String>,
        dry_run: bool,
    ) -> Result<ArtifactReport, PlatformError> {
        let versions = self.versions();
        let running_md5 = match &running_version {
            Some(version) => versions.head(&local.key, Some(version)).await?.and_then(|(md5, _)| md5),
            None => None,
        };
        let (action, new_version) = if running_md5 == Some(local.md5) {
            (ArtifactAction::Unchanged, None)
        } else if dry_run {
            (ArtifactAction::WouldUpload, None)
        } else {
            match versions.kept_with(&local.key, local.md5).await? {
                Some(version) => (ArtifactAction::Reused, Some(version)),
                None => (ArtifactAction::Uploaded, Some(versions.put(local).await?)),
            }
        };
        Ok(ArtifactReport {
            kind: local.kind,
            key: local.key.clone(),
            md5: local.md5.to_hex(),
            running_version,
            new_version,
            action,
        })
    }

    /// One UpdateEnvironment naming every changed file's path and new version; then, with `wait`, the wait.
    /// `previous`: the last update's creation time before this call, so the wait recognises ours.
    async fn update(
        &self,
        changed: &[&ArtifactReport],
        previous: Option<(i64, u32)>,
    ) -> Result<UpdateOutcome, PlatformError> {
        let mut request = self.mwaa.update_environment().name(self.name());
        for artifact in changed {
            let version = artifact.new_version.clone().expect("changed artifacts of a real run have a version");
            request = match artifact.kind {
                Kind::Plugins => request.plugins_s3_path(&artifact.key).plugins_s3_object_version(version),
                Kind::Requirements => {
                    request.requirements_s3_path(&artifact.key).requirements_s3_object_version(version)
                }
                Kind::StartupScript => {
                    request.startup_script_s3_path(&artifact.key).startup_script_s3_object_version(version)
                }
            };
        }
        request.send().await.map_err(|err| {
            sdk_error::explain(
                &sdk_error::MWAA_API,
                &format!("MWAA UpdateEnvironment `{}`", self.name()),
                &err,
                "; the new files are uploaded and the next run reuses them",
            )
        })?;
        eprintln!("mwaa: update of {} requested", self.name());
        if !self.settings.wait {
            return Ok(UpdateOutcome::Requested);
        }
        status::wait_for_update(
            &self.mwaa,
            self.name(),
            previous,
            self.settings.wait_timeout(),
            self.settings.poll_interval(),
        )
        .await?;
        eprintln!("mwaa: update of {} finished", self.name());
        Ok(UpdateOutcome::Completed)
    }
}
