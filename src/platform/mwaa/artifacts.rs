//! The files MWAA reads from its bucket by object version: plugins.zip, requirements.txt and the startup
//! script. Each is compared with the version the environment runs, not with the newest object.
use std::path::Path;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::BucketVersioningStatus;
use serde::Serialize;

use crate::config::{Config, MwaaConfig};
use crate::hash::Md5;
use crate::platform::{PlatformError, build_plugins_zip};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Plugins,
    Requirements,
    StartupScript,
}

/// One file as the repository has it now.
#[derive(Debug, Clone)]
pub struct Local {
    pub kind: Kind,
    /// The full key in the bucket (the environment URL's prefix included).
    pub key: String,
    pub bytes: Vec<u8>,
    pub md5: Md5,
}

/// Builds plugins.zip and reads the requirements and startup script the config names. Runs before anything
/// remote, so a missing file is an input error that writes nothing.
pub fn collect(root: &Path, config: &Config, mwaa: &MwaaConfig, prefix: &str) -> Result<Vec<Local>, PlatformError> {
    let mut locals = Vec::new();
    let mut push = |kind, key: &str, bytes: Vec<u8>| {
        let md5 = Md5::of_bytes(&bytes);
        locals.push(Local { kind, key: format!("{prefix}{key}"), bytes, md5 });
    };
    if let Some(plugins_dir) = &config.plugins_dir {
        let folder = root.join(plugins_dir);
        if folder.is_dir() && only_placeholders(&folder) {
            // Like an empty mirror source: never replace the running plugins with a near-empty zip.
            eprintln!(
                "mwaa: plugins_dir `{plugins_dir}` holds no plugin (only hidden placeholder files like .gitkeep): \
                 no plugins.zip is built, the environment keeps the plugins it runs"
            );
        } else if folder.is_dir() {
            let zip = build_plugins_zip(&folder)
                .map_err(|err| PlatformError::Input(format!("plugins_dir `{plugins_dir}`: {err}")))?;
            push(Kind::Plugins, &mwaa.keys.plugins, zip);
        }
    }
    for (kind, key, path, config_key) in [
        (Kind::Requirements, &mwaa.keys.requirements, &mwaa.requirements, "requirements"),
        (Kind::StartupScript, &mwaa.keys.startup_script, &mwaa.startup_script, "startup_script"),
    ] {
        let Some(path) = path else { continue };
        let bytes = std::fs::read(root.join(path)).map_err(|err| {
            PlatformError::Input(format!(
                "mwaa.{config_key}: cannot read `{path}`: {err}; fix the path or remove the key"
            ))
        })?;
        push(kind, key, bytes);
    }
    Ok(locals)
}

/// A folder whose files are all hidden placeholders (`.gitkeep`, `.keep`, `.gitignore`): no plugin in it.
fn only_placeholders(folder: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(folder) else { return false };
    entries.flatten().all(|entry| {
        // file_type does not follow symlinks: a symlinked folder counts as content, and no loop is walked.
        if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            only_placeholders(&entry.path())
        } else {
            entry.file_name().to_string_lossy().starts_with('.')
        }
    })
}

/// S3 calls on the environment's bucket that the deploy engine's `Store` does not need: versions.
pub struct Versions<'a> {
    pub client: &'a Client,
    pub bucket: &'a str,
}

impl Versions<'_> {
    fn remote(&self, what: &str, err: impl std::error::Error) -> PlatformError {
        PlatformError::Remote(format!("s3://{}: {what}: {}", self.bucket, DisplayErrorContext(err)))
    }

    /// MWAA names object versions: without versioning there are none to name.
    pub async fn require_versioning(&self) -> Result<(), PlatformError> {
        let enabled = match self.client.get_bucket_versioning().bucket(self.bucket).send().await {
            Ok(output) => output.status() == Some(&BucketVersioningStatus::Enabled),
            // moto (the tests' S3) names the answer's root element GetBucketVersioningResponse, which the SDK
            // refuses to parse; the Status element inside is the same as S3's, so read it from the raw body.
            Err(err) => match err.raw_response().filter(|response| response.status().is_success()) {
                Some(response) => response
                    .body()
                    .bytes()
                    .is_some_and(|body| String::from_utf8_lossy(body).contains("<Status>Enabled</Status>")),
                None => return Err(self.remote("GetBucketVersioning", err)),
            },
        };
        if enabled {
            return Ok(());
        }
        Err(PlatformError::Refused(format!(
            "bucket `{}` does not have versioning enabled, which MWAA requires for plugins and requirements: run \
             `aws s3api put-bucket-versioning --bucket {} --versioning-configuration Status=Enabled`",
            self.bucket, self.bucket
        )))
    }

    /// The MD5 of one version of `key` (or the newest with `version: None`) and that version's id; `None` when
    /// it does not exist. Multipart ETags are no MD5 and read as "different", so such a file is uploaded again.
    pub async fn head(&self, key: &str, version: Option<&str>) -> Result<Option<(Option<Md5>, String)>, PlatformError> {
        let result = self
            .client
            .head_object()
            .bucket(self.bucket)
            .key(key)
            .set_version_id(version.map(str::to_string))
            .send()
            .await;
        match result {
            Ok(output) => {
                let md5 = output.e_tag().and_then(|etag| Md5::from_hex(etag.trim_matches('"')));
                Ok(Some((md5, output.version_id().unwrap_or("null").to_string())))
            }
            Err(err)
                if err.raw_response().is_some_and(|response| response.status().as_u16() == 404)
                    || matches!(err.code(), Some("NotFound" | "NoSuchKey" | "NoSuchVersion")) =>
            {
                Ok(None)
            }
            // S3 answers a HEAD of a malformed or foreign version id with 400.
            Err(err) if err.raw_response().is_some_and(|response| response.status().as_u16() == 400) => Ok(None),
            Err(err) => Err(self.remote(&format!("HeadObject {key}"), err)),
        }
    }

    /// The newest kept version of `key` whose content is `md5` (by its ETag; multipart ETags never match), if any:
    /// a rollback names the version the environment ran before instead of uploading the same bytes again.
    pub async fn kept_with(&self, key: &str, md5: Md5) -> Result<Option<String>, PlatformError> {
        let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(self.bucket)
                .prefix(key)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|err| self.remote(&format!("ListObjectVersions {key}"), err))?;
            // Versions of one key come newest first.
            let found = page.versions().iter().find(|version| {
                version.key() == Some(key)
                    && version.e_tag().and_then(|etag| Md5::from_hex(etag.trim_matches('"'))) == Some(md5)
            });
            if let Some(version) = found {
                return Ok(version.version_id().map(str::to_string));
            }
            if !page.is_truncated().unwrap_or(false) {
                return Ok(None);
            }
            key_marker = page.next_key_marker().map(str::to_string);
            version_marker = page.next_version_id_marker().map(str::to_string);
        }
    }

    /// Uploads `local` with its Content-MD5 and returns the version id S3 gave it.
    pub async fn put(&self, local: &Local) -> Result<String, PlatformError> {
        let output = self
            .client
            .put_object()
            .bucket(self.bucket)
            .key(&local.key)
            .content_md5(local.md5.to_base64())
            .body(ByteStream::from(local.bytes.clone()))
            .send()
            .await
            .map_err(|err| self.remote(&format!("PutObject {}", local.key), err))?;
        output.version_id().map(str::to_string).ok_or_else(|| {
            PlatformError::Remote(format!(
                "s3://{}/{}: the upload returned no version id; is versioning enabled?",
                self.bucket, local.key
            ))
        })
    }
}
